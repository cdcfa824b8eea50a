import Foundation
import NemoClient
import NemoCore
import NemoRecording
import NemoSimulator
import Testing

/// What one run of the session saw (secrets the client held, for the grep).
struct SessionSecrets {
    var token: String
    var clientID: String
    var signature: String
}

/// A whole session: token → session → upload → message with heartbeats →
/// an edit that closes silently (state polled) → state → render → poll → download.
func runSession(_ client: NemoClient, directory: URL) async throws -> SessionSecrets {
    let issued = try await client.issueToken()
    try await client.createSession()
    let image = directory.appendingPathComponent("poster.png")
    try Data(repeating: 7, count: 4096).write(to: image)
    _ = try await client.upload(files: [image])
    let generation = try await client.sendAndWait("make a promo video")
    #expect(generation.ending == .text)
    let edit = try await client.sendAndWait("add a title \"Replay\"")
    #expect(edit.ending == .silentClose && edit.stateChanged)
    let state = try await client.state()
    let job = try await client.submitRender(draft: state.draft!)
    let done = try await client.waitForRender(id: job.id!)
    try await client.download(done, to: directory.appendingPathComponent("out-\(UUID().uuidString).mp4"))
    let signature = URLComponents(string: done.outputURL ?? "")?.queryItems?.first { $0.name == "signature" }?.value ?? ""
    return SessionSecrets(token: issued.token, clientID: client.configuration.clientID, signature: signature)
}

/// A short-timed profile so a session at time scale 1 takes a few seconds.
func shortProfile() -> BehaviourProfile {
    var profile = BehaviourProfile()
    profile.heartbeatIntervalSeconds = 0.1
    profile.generationDurationSeconds = SecondsRange(0.6, 0.6)
    profile.secondStageDurationSeconds = SecondsRange(0.3, 0.3)
    profile.editDurationSeconds = SecondsRange(0.4, 0.4)
    profile.silentCloseRatio = 1
    profile.silentGenerationRatio = 0
    profile.temporaryIssueRatio = 0
    profile.renderDurationSeconds = SecondsRange(0.5, 0.5)
    profile.renderQueueSeconds = 0.1
    profile.initialCredits = 1000
    return profile
}

func fastPolicy() -> RecoveryPolicy {
    var policy = RecoveryPolicy()
    policy.firstStateCheckSeconds = 0.2
    policy.stateCheckEverySeconds = 0.2
    policy.renderPollSeconds = 0.2
    return policy
}

@Suite("Recording and replay")
struct RecordReplayTests {
    @Test("Record a whole session through the transport decorator, replay it with no network: same responses, same events at the recorded offsets")
    func roundTrip() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-rec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await SimulatorServer.start(.init(seed: 5, timeScale: 1, profile: shortProfile()))

        let original = directory.appendingPathComponent("session.har")
        let writer = try RecordingWriter(
            url: original, metadata: RecordingMetadata(toolVersion: "test", target: server.url, seed: 5, timeScale: 1, createdAt: "now"))
        let curl = CurlTransport()
        let recordingClient = NemoClient(
            configuration: ClientConfiguration(baseURL: server.url), transport: RecordingTransport(base: curl, writer: writer), policy: fastPolicy())
        let secrets = try await runSession(recordingClient, directory: directory)
        try writer.close()
        curl.shutdown()
        await server.stop()
        #expect(!FileManager.default.fileExists(atPath: RecordingWriter.journalURL(for: original).path), "the journal is removed on close")

        // Replay with no network, recording the replay itself to compare.
        let recording = try Recording.load(original)
        #expect(recording.cutOff == nil && !recording.fromJournal)
        #expect(recording.metadata?.seed == 5)
        let replayed = directory.appendingPathComponent("replayed.har")
        let replayWriter = try RecordingWriter(url: replayed, metadata: RecordingMetadata(toolVersion: "test", target: "replay", createdAt: "now"))
        // The replay is paced on a manual clock: each event is let out at
        // exactly its recorded offset, whatever the machine does.
        let clock = ManualRecordingClock()
        let replayClient = NemoClient(
            configuration: ClientConfiguration(baseURL: "http://replay.invalid"),
            transport: RecordingTransport(base: ReplayTransport(recording: recording, timing: .recorded(timeScale: 1), clock: clock), writer: replayWriter),
            policy: fastPolicy())
        _ = try await runSession(replayClient, directory: directory)
        try replayWriter.close()

        let first = try Recording.load(original).entries
        let second = try Recording.load(replayed).entries
        expectSameExchanges(first, second)
        let streams = first.compactMap(\.eventStream)
        #expect(streams.count == 2)
        expectPaced(clock, like: first)
        #expect(streams[0].contains { $0.data?.contains("heartbeat") == true })

        // No secret the client held is in any file written.
        for file in [original, replayed] {
            let text = try String(contentsOf: file, encoding: .utf8)
            for secret in [secrets.token, secrets.clientID, secrets.signature] where !secret.isEmpty {
                #expect(!text.contains(secret), "\(file.lastPathComponent) contains a secret")
            }
            #expect(text.contains("REDACTED-token-1"))
        }
    }

    @Test("Record through the recording proxy, replay through the replay server (serve --replay): same responses, events and offsets")
    func proxyAndReplayServer() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-proxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await SimulatorServer.start(.init(seed: 6, timeScale: 1, profile: shortProfile()))
        let file = directory.appendingPathComponent("proxied.har")
        let writer = try RecordingWriter(url: file, metadata: RecordingMetadata(toolVersion: "test", target: server.url, createdAt: "now"))
        let proxy = try await RecordingProxy.start(upstream: server.url, writer: writer)
        let curl = CurlTransport()
        let client = NemoClient(configuration: ClientConfiguration(baseURL: proxy.url), transport: curl, policy: fastPolicy())
        let secrets = try await runSession(client, directory: directory)
        try await proxy.stop()
        await server.stop()

        let recording = try Recording.load(file)
        #expect(recording.metadata?.recordedVia == proxy.url)
        #expect(recording.entries.contains { $0.request.url.contains("/_nemosim/media/renders/") }, "the download went through the proxy")
        // Paced on a manual clock: each event let out at its recorded offset.
        let clock = ManualRecordingClock()
        let replay = try await ReplayServer.start(recording: recording, timing: .recorded(timeScale: 1), clock: clock)
        let again = directory.appendingPathComponent("again.har")
        let againWriter = try RecordingWriter(url: again, metadata: RecordingMetadata(toolVersion: "test", target: replay.url, createdAt: "now"))
        let replayClient = NemoClient(
            configuration: ClientConfiguration(baseURL: replay.url), transport: RecordingTransport(base: curl, writer: againWriter), policy: fastPolicy())
        _ = try await runSession(replayClient, directory: directory)
        try againWriter.close()
        await replay.stop()
        curl.shutdown()

        let first = recording.entries
        let second = try Recording.load(again).entries
        expectSameExchanges(first, second, rewritten: (proxy.url, replay.url))
        expectPaced(clock, like: first)
        let text = try String(contentsOf: file, encoding: .utf8)
        for secret in [secrets.token, secrets.clientID, secrets.signature] where !secret.isEmpty {
            #expect(!text.contains(secret), "the proxy's recording contains a secret")
        }
    }
}

/// The replay let each recorded event out at its recorded offset from its
/// stream's start: the moments it waited for on the manual clock (which
/// jumps to each at once, so each stream starts where the last one ended).
func expectPaced(_ clock: ManualRecordingClock, like entries: [HAREntry], sourceLocation: SourceLocation = #_sourceLocation) {
    var start = 0.0
    var expected: [Double] = []
    for stream in entries.compactMap(\.eventStream) {
        expected += stream.map { start + $0.offsetMs }
        start = expected.last ?? start
    }
    #expect(!expected.isEmpty, sourceLocation: sourceLocation)
    #expect(clock.sleeps == expected, sourceLocation: sourceLocation)
}

/// Same requests, statuses, bodies and event streams (data and ids).
func expectSameExchanges(_ first: [HAREntry], _ second: [HAREntry], rewritten: (String, String)? = nil) {
    #expect(first.count == second.count)
    #expect(first.count >= 12, "a whole session: token, session, upload, two messages, state checks, render, polls, download")
    for (a, b) in zip(first, second) {
        #expect(a.request.method == b.request.method)
        #expect(ReplayMatcher.normalizedPath(a.request.url) == ReplayMatcher.normalizedPath(b.request.url))
        #expect(a.response.status == b.response.status)
        let savedToFile = [a, b].contains { $0.response.content.comment?.contains("saved to a file") == true }
        if a.eventStream == nil && !savedToFile {
            var expected = a.response.content.text
            if let (from, to) = rewritten { expected = expected?.replacingOccurrences(of: from, with: to) }
            #expect(expected == b.response.content.text, "\(a.request.method) \(a.request.url)")
        }
        if let recorded = a.eventStream, let replay = b.eventStream {
            #expect(recorded.map(\.data) == replay.map(\.data))
            #expect(recorded.map(\.id) == replay.map(\.id))
        }
    }
}

extension RecordReplayTests {
    @Test("A request the recording does not hold gets an error naming the closest recorded request")
    func noMatch() async throws {
        let entry = HAREntryBuilder.entry(
            request: ClientRequest(method: "GET", url: "http://x/api/credits/balance/simple"), started: Date(), elapsed: 1, status: 200,
            headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"available":1,"frozen":0,"total":1}}"#.utf8))
        let transport = ReplayTransport(recording: Recording(metadata: nil, entries: [entry], cutOff: nil, fromJournal: false), timing: .instant)
        let hit = try await transport.send(ClientRequest(method: "GET", url: "http://elsewhere/api/credits/balance/simple"))
        #expect(hit.status == 200)
        do {
            _ = try await transport.send(ClientRequest(method: "POST", url: "http://x/api/credits/balance/simple"))
            Issue.record("expected no match")
        } catch let error as TransportError {
            #expect(error.message.contains("no recorded exchange matches POST /api/credits/balance/simple"))
            #expect(error.message.contains("Closest recorded request: GET /api/credits/balance/simple (differs in method: recorded GET, sent POST)"))
        }
    }

    @Test("A JSON body recorded with \"params\": [] beside it (as mitmproxy writes) matches by its text; a multipart one by method and path")
    func paramsBesideText() async throws {
        let body = #"{"app_name":"nemo_agent","session_id":"s1","new_message":{"parts":[{"text":"hi"}]}}"#
        var json = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://x/api/tasks/me/with-session/nemo_agent", body: .data(Data(body.utf8), contentType: "application/json")),
            started: Date(), elapsed: 1, status: 200, headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"session_id":"s1"}}"#.utf8))
        json.request.postData = HARPostData(mimeType: "application/json", text: body, params: [])
        var upload = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://x/api/upload-video/nemo_agent/me/s1"), started: Date(), elapsed: 1, status: 200,
            headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"files":[]}}"#.utf8))
        upload.request.postData = HARPostData(mimeType: "multipart/form-data; boundary=x", text: "", params: [])
        let transport = ReplayTransport(recording: Recording(metadata: nil, entries: [json, upload], cutOff: nil, fromJournal: false), timing: .instant)
        let matched = try await transport.send(
            ClientRequest(method: "POST", url: "http://y/api/tasks/me/with-session/nemo_agent", body: .data(Data(body.utf8), contentType: "application/json")))
        #expect(String(decoding: matched.body, as: UTF8.self).contains("s1"))
        let uploaded = try await transport.send(
            ClientRequest(method: "POST", url: "http://y/api/upload-video/nemo_agent/me/s1", body: .data(Data("--x--".utf8), contentType: "multipart/form-data; boundary=x")))
        #expect(uploaded.status == 200)
        // Another JSON body does not match the recorded one, and the error names the field and both values.
        let changed = body.replacingOccurrences(of: #""text":"hi""#, with: #""text":"bye""#)
        do {
            _ = try await transport.send(
                ClientRequest(method: "POST", url: "http://y/api/tasks/me/with-session/nemo_agent", body: .data(Data(changed.utf8), contentType: "application/json")))
            Issue.record("a different body matched")
        } catch let error as TransportError {
            #expect(error.message.contains(#"differs in body: field new_message.parts[0].text: recorded "hi", sent "bye""#), "\(error.message)")
        }
        #expect(ReplayMatcher.bodyDifference(recorded: #"{"a":1}"#, sent: #"{"a":1,"b":[2]}"#) == "field b: recorded (absent), sent [2]")
        #expect(ReplayMatcher.bodyDifference(recorded: "", sent: "x=1") == "recorded (empty), sent x=1")
        #expect(ReplayMatcher.bodyDifference(recorded: "name=ann&age=3", sent: "name=ann&age=4") == "recorded name=ann&age=3, sent name=ann&age=4 (from character 1)")
    }

    @Test("Matching is configurable: the query and a header can be required, the body left out; bad rules are errors that say what to write")
    func customMatching() async throws {
        func entry(_ url: String, tenant: String, _ available: Int) -> HAREntry {
            HAREntryBuilder.entry(
                request: ClientRequest(method: "GET", url: url, headers: [("X-Tenant", tenant)]), started: Date(), elapsed: 1, status: 200,
                headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"available":\#(available)}}"#.utf8))
        }
        let recording = Recording(
            metadata: nil,
            entries: [entry("http://x/api/credits/balance/simple?b=2&a=1", tenant: "red", 1), entry("http://x/api/credits/balance/simple?a=9", tenant: "blue", 2)],
            cutOff: nil, fromJournal: false)
        func available(_ transport: ReplayTransport, _ url: String, tenant: String) async throws -> Int? {
            let answer = try await transport.send(ClientRequest(method: "GET", url: url, headers: [("x-tenant", tenant)]))
            return try JSONValue.parse(answer.body)["data"]?["available"]?.intValue
        }
        // Default rules: the query does not count; the first recorded answer comes first.
        #expect(try await available(ReplayTransport(recording: recording, timing: .instant), "http://y/api/credits/balance/simple?a=9", tenant: "blue") == 1)
        // With the query (items in any order) and a header: the exchange that has them.
        let strict = ReplayTransport(recording: recording, timing: .instant, match: try ReplayMatch(parsing: "method,path,query,header:X-Tenant"))
        #expect(try await available(strict, "http://y/api/credits/balance/simple?a=9", tenant: "blue") == 2)
        #expect(try await available(strict, "http://y/api/credits/balance/simple?a=1&b=2", tenant: "red") == 1)
        do {
            _ = try await available(strict, "http://y/api/credits/balance/simple?a=1&b=2", tenant: "green")
            Issue.record("a request with another header value matched")
        } catch let error as TransportError {
            #expect(error.message.contains("header x-tenant: recorded red, sent green"), "\(error.message)")
        }
        #expect(try ReplayMatch(parsing: "path, header:X-Api-Key").description == "path,header:x-api-key")
        // A secret header is named, never shown; token-shaped words in what was sent are masked.
        let keyed = ReplayTransport(recording: recording, timing: .instant, match: try ReplayMatch(parsing: "method,path,header:Authorization"))
        do {
            _ = try await keyed.send(ClientRequest(method: "GET", url: "http://y/api/credits/balance/simple", headers: [("Authorization", "Bearer nmv_usr_livesecret0123")]))
            Issue.record("matched without the recorded Authorization")
        } catch let error as TransportError {
            #expect(error.message.contains("header authorization (values not shown: a secret)"), "\(error.message)")
            #expect(!error.message.contains("livesecret"), "\(error.message)")
        }
        #expect(ReplayMatcher.bodyDifference(recorded: #"{"token":"nmv_usr_REDACTED-1"}"#, sent: #"{"token":"nmv_usr_live0123456"}"#) == "field token (values not shown: a secret)")
        for bad in ["", "method,colour", "header:", "header:a b"] {
            #expect(throws: RecordingError.self, "\(bad)") { try ReplayMatch(parsing: bad) }
        }
    }

    @Test("The replay server's health (its own unless recorded), rewind (POST /_nemosim/reset) and the list of unused exchanges")
    func replayAdmin() async throws {
        func entry(_ path: String, _ available: Int) -> HAREntry {
            HAREntryBuilder.entry(
                request: ClientRequest(method: "GET", url: "http://x" + path), started: Date(), elapsed: 1, status: 200,
                headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"available":\#(available)}}"#.utf8))
        }
        let recording = Recording(
            metadata: nil, entries: [entry("/api/credits/balance/simple", 1), entry("/api/credits/balance/simple", 2), entry("/api/state/nemo_agent/me/1/latest", 3)],
            cutOff: nil, fromJournal: false)
        let replay = try await ReplayServer.start(recording: recording, timing: .instant)
        let curl = CurlTransport()
        func get(_ path: String, method: String = "GET") async throws -> JSONValue {
            try JSONValue.parse(try await curl.send(ClientRequest(method: method, url: replay.url + path)).body)
        }
        let health = try await get("/_nemosim/health")
        #expect(health["status"] == "ok" && health["mode"] == "replay" && health["exchanges"] == 3 && health["unused"] == 3)
        #expect(try await get("/api/credits/balance/simple")["data"]?["available"] == 1)
        let unused = try await get("/_nemosim/replay/unused")
        #expect(unused["count"] == 2)
        #expect(unused["unused"]?.arrayValue?.compactMap { $0["index"]?.intValue } == [2, 3])
        #expect(unused["unused"]?[1]?["path"] == "/api/state/nemo_agent/me/1/latest")
        // Rewound: the first answer again, and everything unused.
        #expect(try await get("/_nemosim/reset", method: "POST")["status"] == "rewound")
        #expect(try await get("/_nemosim/replay/unused")["count"] == 3)
        #expect(try await get("/api/credits/balance/simple")["data"]?["available"] == 1)
        #expect(try await get("/api/credits/balance/simple")["data"]?["available"] == 2)
        await replay.stop()

        // A recording that holds a health answer (a simulator's) gives that one.
        let recorded = HAREntryBuilder.entry(
            request: ClientRequest(method: "GET", url: "http://x/_nemosim/health"), started: Date(), elapsed: 1, status: 200,
            headers: [("Content-Type", "application/json")], body: Data(#"{"status":"ok","profile_base":"strict"}"#.utf8))
        let simulator = try await ReplayServer.start(recording: Recording(metadata: nil, entries: [recorded], cutOff: nil, fromJournal: false), timing: .instant)
        let answer = try JSONValue.parse(try await curl.send(ClientRequest(method: "GET", url: simulator.url + "/_nemosim/health")).body)
        #expect(answer["profile_base"] == "strict" && answer["mode"] == nil)
        await simulator.stop()
        curl.shutdown()
    }

    @Test("An exchange recorded without a response is an error at replay: from the transport, and a 502 saying so from the replay server")
    func noResponseRecorded() async throws {
        let entry = HAREntryBuilder.entry(
            request: ClientRequest(method: "GET", url: "http://x/api/credits/balance/simple"), started: Date(), elapsed: 1, status: 0,
            headers: [], body: Data(), ending: .failed("connection refused"))
        let recording = Recording(metadata: nil, entries: [entry], cutOff: nil, fromJournal: false)
        await #expect(throws: TransportError.self) {
            _ = try await ReplayTransport(recording: recording, timing: .instant).send(ClientRequest(method: "GET", url: "http://x/api/credits/balance/simple"))
        }
        let replay = try await ReplayServer.start(recording: recording, timing: .instant)
        let curl = CurlTransport()
        let answer = try await curl.send(ClientRequest(method: "GET", url: replay.url + "/api/credits/balance/simple"))
        #expect(answer.status == 502)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("the recorded exchange had no response (failed: connection refused)"))
        await replay.stop()
        curl.shutdown()
    }

    @Test("Replay matching: the same token's answers first, each recorded answer once and in order, the last one again for polls")
    func matchingByToken() async throws {
        func entry(_ token: String, _ available: Int) -> HAREntry {
            HAREntryBuilder.entry(
                request: ClientRequest(method: "GET", url: "http://x/api/credits/balance/simple", headers: [("Authorization", "Bearer \(token)")]),
                started: Date(), elapsed: 1, status: 200, headers: [("Content-Type", "application/json")],
                body: Data(#"{"code":0,"data":{"available":\#(available)}}"#.utf8))
        }
        // Two recorded sessions made the same call, interleaved.
        let recording = Recording(metadata: nil, entries: [entry("tA", 1), entry("tB", 10), entry("tA", 2), entry("tB", 20)])
        let transport = ReplayTransport(recording: recording, timing: .instant)
        func available(_ token: String) async throws -> Int? {
            let response = try await transport.send(
                ClientRequest(method: "GET", url: "http://y/api/credits/balance/simple", headers: [("Authorization", "Bearer \(token)")]))
            return try JSONValue.parse(response.body)["data"]?["available"]?.intValue
        }
        #expect(try await available("tB") == 10)
        #expect(try await available("tA") == 1)
        #expect(try await available("tA") == 2)
        #expect(try await available("tA") == 2, "its own last answer again once they run out, not another session's")
        #expect(try await available("tB") == 20)
        // An unknown token still gets an answer for the call, in recorded order.
        let other = ReplayTransport(recording: recording, timing: .instant)
        let first = try await other.send(ClientRequest(method: "GET", url: "http://y/api/credits/balance/simple", headers: [("Authorization", "Bearer zz")]))
        #expect(try JSONValue.parse(first.body)["data"]?["available"]?.intValue == 1)
    }

    @Test("A download is recorded whole up to the limit (base64) and replayed byte for byte; a larger one only by size")
    func downloadsRecorded() async throws {
        let server = try await SimulatorServer.start(.init(timeScale: 1000))
        defer { Task { await server.stop() } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-dl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let client = NemoClient(configuration: ClientConfiguration(baseURL: server.url, clientID: "dl"), transport: CurlTransport())
        await client.discoverTimeScale()
        try await client.issueToken()
        try await client.createSession()
        _ = try await client.sendAndWait("make a video")
        try await server.simulation.advanceClock(by: 120)
        let token = await client.token
        let session = await client.sessionID
        for (limit, whole) in [(1 << 20, true), (1000, false)] {
            let url = directory.appendingPathComponent("run-\(limit).har")
            let writer = try RecordingWriter(url: url, metadata: RecordingMetadata(toolVersion: "t", target: server.url, createdAt: "now"))
            let recorded = NemoClient(
                configuration: ClientConfiguration(baseURL: server.url, token: token, clientID: "dl"),
                transport: RecordingTransport(base: CurlTransport(), writer: writer, maxRecordedDownloadBytes: limit), sessionID: session)
            await recorded.discoverTimeScale()
            let original = directory.appendingPathComponent("original-\(limit).mp4")
            _ = try await recorded.export(to: original)
            try writer.close()
            let recording = try Recording.load(url)
            let download = try #require(recording.entries.last { $0.response.content.mimeType == "video/mp4" })
            #expect((download.response.content.encoding == "base64") == whole)
            if whole {
                let replayed = directory.appendingPathComponent("replayed.mp4")
                let replay = NemoClient(
                    configuration: ClientConfiguration(baseURL: "http://replay.invalid", token: token, clientID: "dl"),
                    transport: ReplayTransport(recording: recording, timing: .instant), sessionID: session)
                await replay.discoverTimeScale()
                _ = try await replay.export(to: replayed)
                #expect(try Data(contentsOf: replayed) == Data(contentsOf: original))
            }
        }
    }

    @Test("A journal cut off mid-line still gives every completed exchange and names the lost one")
    func cutOffJournal() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-cut-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("crash.har")
        let writer = try RecordingWriter(url: url, metadata: RecordingMetadata(toolVersion: "t", target: "x", createdAt: "now"))
        for index in 0..<3 {
            writer.begin(method: "GET", url: "http://x/api/credits/balance/simple")
            try writer.append(HAREntryBuilder.entry(
                request: ClientRequest(method: "GET", url: "http://x/api/credits/balance/simple", headers: [("Authorization", "Bearer nmv_usr_secretsecret")]),
                started: Date(), elapsed: Double(index), status: 200, headers: [], body: Data("{}".utf8)))
        }
        writer.begin(method: "POST", url: "http://x/run_sse")
        // Simulate a crash: the HAR was never written.
        var recording = try Recording.load(url)
        #expect(recording.entries.count == 3 && recording.fromJournal)
        #expect(recording.cutOff?.contains("exchange 4 (POST /run_sse) was cut off") == true)
        // A half-written line (killed during a write) is named too.
        let handle = try FileHandle(forWritingTo: RecordingWriter.journalURL(for: url))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"startedDateTime":"2026"#.utf8))
        try handle.close()
        recording = try Recording.load(url)
        #expect(recording.entries.count == 3)
        #expect(recording.cutOff?.contains("cut off while being written") == true)
        let journal = try String(contentsOf: RecordingWriter.journalURL(for: url), encoding: .utf8)
        #expect(!journal.contains("nmv_usr_secretsecret"))
    }

    @Test("Redaction: stable placeholders, user rules, signed URLs, secrets found anywhere")
    func redaction() {
        let redactor = Redactor(rules: .init(headers: ["X-Api-Secret"], jsonPaths: ["data.user.email"]))
        #expect(redactor.header(name: "Authorization", value: "Bearer nmv_usr_abcdef123") == "Bearer nmv_usr_REDACTED-token-1")
        #expect(redactor.header(name: "authorization", value: "Bearer nmv_usr_abcdef123") == "Bearer nmv_usr_REDACTED-token-1")
        #expect(redactor.header(name: "X-Api-Secret", value: "hunter22") == "REDACTED-secret-1")
        #expect(redactor.header(name: "Accept", value: "text/event-stream") == "text/event-stream")
        let body = redactor.body(#"{"data":{"token":"nmv_usr_abcdef123","user":{"email":"a@b.c","name":"Ann"},"url":"https://cdn.x/v.mp4?X-Amz-Signature=deadbeef99&a=1"}}"#, mimeType: "application/json")
        #expect(!body.contains("nmv_usr_abcdef123") && !body.contains("a@b.c") && !body.contains("deadbeef99"))
        #expect(body.contains("REDACTED-token-1") && body.contains("Ann") && body.contains("a=1"))
        #expect(redactor.text("log line with nmv_usr_abcdef123 inside") == "log line with nmv_usr_REDACTED-token-1 inside")
        #expect(redactor.url("https://s.example/r.mp4?expires=1&signature=abcabc123") == "https://s.example/r.mp4?expires=REDACTED-signature-2&signature=REDACTED-signature-3")
        // Redacting twice changes nothing.
        #expect(redactor.body(body, mimeType: "application/json") == body)
        // A claim token opens the project in a browser for 7 days: a secret too, wherever it appears after.
        let claim = redactor.body(#"{"code":0,"data":{"claim_token":"clm_0123456789abcdef","expires_in":604800}}"#, mimeType: "application/json")
        #expect(claim.contains("clm_REDACTED-claim-1") && !claim.contains("clm_0123456789abcdef"))
        #expect(redactor.url("http://127.0.0.1:9/_nemosim/claims/clm_0123456789abcdef") == "http://127.0.0.1:9/_nemosim/claims/clm_REDACTED-claim-1")
        #expect(redactor.text("https://nemovideo.com/workspace/claim?ct=clm_0123456789abcdef").hasSuffix("ct=clm_REDACTED-claim-1"))
    }
}

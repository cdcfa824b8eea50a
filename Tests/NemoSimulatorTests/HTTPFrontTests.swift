import Foundation
import NemoCore
import ServerSentEvents
import Testing

@testable import NemoSimulator

let skillHeaders = ["X-Skill-Source": "nemosim-tests", "X-Skill-Version": "1.0.0", "X-Skill-Platform": "unknown"]

/// A running simulator on port 0 and a signed-in client.
struct LiveSession {
    let server: SimulatorServer
    let token: String
    let user: String
    let session: String
    var url: String { server.url }

    /// - Parameters:
    ///   - clientID: the token's `X-Client-Id` (a new UUID when nil; fixed, two seeded simulators issue the same ids).
    ///   - eventLoopStreams: false serves event streams through the router's task instead of the event loop.
    static func start(
        timeScale: Double = 1000, seed: UInt64 = 3, limits: ConnectionLimits = ConnectionLimits(), clientID: String? = nil,
        eventLoopStreams: Bool = true, _ configure: (inout BehaviourProfile) -> Void = { _ in }
    ) async throws -> LiveSession {
        var profile = BehaviourProfile()
        // At 1000x the default idle window (an hour) is 3.6 s of real time,
        // which a loaded machine can stall a test for between two calls:
        // a month unless a test sets it.
        profile.sessionIdleTTLSeconds = 30 * 86_400
        configure(&profile)
        let server = try await SimulatorServer.start(
            .init(seed: seed, timeScale: timeScale, profile: profile, limits: limits), clock: nil, eventLoopStreams: eventLoopStreams)
        let issued = await CurlTestClient.request(
            "POST", server.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": clientID ?? UUID().uuidString])
        let token = try #require(issued.data?["token"]?.stringValue)
        let user = try #require(issued.data?["user_id"]?.stringValue)
        let created = await CurlTestClient.json(
            "POST", server.url + "/api/tasks/me/with-session/nemo_agent", token: token, headers: skillHeaders, ["task_name": "project", "language": "en"])
        let session = try #require(created.data?["session_id"]?.stringValue)
        return LiveSession(server: server, token: token, user: user, session: session)
    }

    var auth: [String: String] { skillHeaders.merging(["Authorization": "Bearer \(token)"]) { a, _ in a } }

    func get(_ path: String, headers: [String: String] = [:]) async -> TestResponse {
        await CurlTestClient.request("GET", url + path, headers: auth.merging(headers) { _, b in b })
    }

    func post(_ path: String, _ body: JSONValue?, headers: [String: String] = [:]) async -> TestResponse {
        await CurlTestClient.json("POST", url + path, token: token, headers: skillHeaders.merging(headers) { _, b in b }, body)
    }

    func send(_ text: String, headers: [String: String] = [:]) async -> TestResponse {
        await post("/run_sse", ["app_name": "nemo_agent", "user_id": "me", "session_id": .string(session), "new_message": ["parts": [["text": .string(text)]]]],
            headers: headers.merging(["Accept": "text/event-stream"]) { a, _ in a })
    }

    func admin(_ method: String, _ path: String, _ body: JSONValue? = nil) async -> TestResponse {
        await CurlTestClient.json(method, url + "/_nemosim" + path, body)
    }
}

/// What needs a real socket; everything else is in RouterFrontTests.
@Suite("HTTP front over real sockets")
struct HTTPFrontTests {
    @Test("A port already in use is a start failure that says where and why")
    func portInUse() async throws {
        let first = try await SimulatorServer.start()
        do {
            _ = try await SimulatorServer.start(.init(port: first.port))
            Issue.record("a second simulator started on port \(first.port)")
        } catch let error as SimulatorServerError {
            #expect("\(error)".hasPrefix("could not start the simulator on 127.0.0.1:\(first.port): "), "\(error)")
            #expect("\(error)".localizedCaseInsensitiveContains("in use"), "\(error)")
        }
        // The first one still serves.
        #expect(await CurlTestClient.request("GET", first.url + "/_nemosim/health").status == 200)
        await first.stop()
    }

    @Test("A whole session: token, session, uploads, message stream, state, credits, render, poll, both downloads")
    func wholeSession() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.silentGenerationRatio = 0
        }
        // Multipart upload of two files, one a PNG whose size the server reads.
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 2, 0x80, 0, 0, 1, 0xE0]
        png += [UInt8](repeating: 7, count: 5000)
        let clip = Data((0..<300_000).map { UInt8($0 % 251) })
        let upload = await CurlTestClient.request(
            "POST", live.url + "/api/upload-video/nemo_agent/me/\(live.session)", headers: live.auth,
            multipart: [
                .data(name: "files", filename: "logo.png", bytes: Data(png), contentType: "image/png"),
                .data(name: "files", filename: "../../etc/clip.mp4", bytes: clip, contentType: "video/mp4"),
            ])
        #expect(upload.status == 200 && upload.code == 0)
        let files = try #require(upload.data?["files"]?.arrayValue)
        #expect(files.count == 2)
        #expect(files[0]["width"] == 640 && files[0]["height"] == 480 && files[0]["file_type"] == "image")
        #expect(files[1]["filename"] == "../../etc/clip.mp4")  // names are data, never paths
        #expect(files[1]["hash"]?.stringValue == SHA256Hex.of(clip))
        #expect(files[1]["size"]?.intValue == clip.count)
        #expect(upload.data?["session_state_applied"] == true)

        let stream = await live.send("make a promo video")
        #expect(stream.status == 200)
        #expect(stream.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let kinds = stream.agentEvents.map(\.kind)
        #expect(kinds.first == "tool_call")
        #expect(kinds.contains("heartbeat") && kinds.contains("tool_result") && kinds.contains("text"))
        #expect(stream.sseEvents.allSatisfy { $0.lastEventID.isEmpty }, "strict: data lines only")
        #expect(stream.chunks.count > 3, "events arrive over time, not in one piece")

        var state = await live.get("/api/state/nemo_agent/me/\(live.session)/latest")
        #expect(state.code == 0)
        #expect(state.data?["state"]?["video_infos"]?.arrayValue?.count == 2)
        try await live.server.simulation.advanceClock(by: 120)
        state = await live.get("/api/state/nemo_agent/\(live.user)/\(live.session)/latest")
        let draft = try #require(state.data?["state"]?["draft"]).decode(Draft.self)
        #expect(draft.tracks.map(\.type) == [.video, .audio, .text])

        let credits = await live.get("/api/credits/balance/simple")
        #expect(credits.data == ["available": 0, "frozen": 0, "total": 0])

        let draftJSON = try #require(state.data?["state"]?["draft"])
        let submitted = await live.post("/api/render/proxy/lambda", ["id": "render_e2e", "sessionId": .string(live.session), "draft": draftJSON])
        #expect(submitted.json["success"] == true && submitted.json["data"]?["status"] == "pending")
        try await live.server.simulation.advanceClock(by: 100)
        let polled = await live.get("/api/render/proxy/lambda/render_e2e")
        // Strict: the reference shape, inside data only.
        #expect(polled.json["data"]?["status"] == "completed" && polled.json["status"] == nil && polled.json["output"] == nil)
        let outputURL = try #require(polled.json["data"]?["outputUrl"]?.stringValue)

        let signed = await CurlTestClient.request("GET", outputURL)
        #expect(signed.status == 200 && signed.headers["content-type"] == "video/mp4")
        #expect(signed.body.count > 10_000 && signed.body[4..<8] == Data("ftyp".utf8))
        let fallback = await live.get("/api/render/proxy/render_e2e/download")
        #expect(fallback.status == 200 && fallback.body == signed.body)
        await live.server.stop()
    }

    @Test("The same request in the same state gets the same bytes: every JSON answer has sorted keys, success and error envelopes alike")
    func deterministicAnswers() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.silentGenerationRatio = 0
        }
        // A video made and rendered, then nothing moves: every operation has ended.
        _ = await live.send("make a 30-second promo video")
        try await live.server.simulation.advanceClock(by: 600)
        let state = await live.get("/api/state/nemo_agent/me/\(live.session)/latest")
        let draftJSON = try #require(state.data?["state"]?["draft"])
        let submitted = await live.post("/api/render/proxy/lambda", ["id": "render_same", "sessionId": .string(live.session), "draft": draftJSON])
        #expect(submitted.json["success"] == true, "\(submitted.text)")
        try await live.server.simulation.advanceClock(by: 300)
        let paths = [
            "/_nemosim/health", "/api/credits/balance/simple", "/api/state/nemo_agent/me/\(live.session)/latest",
            "/api/render/proxy/lambda/render_same", "/api/state/nemo_agent/me/0000000000000000000/latest", "/api/render/proxy/lambda/no_such_render",
            "/api/credits/balance/simple?x=1",
        ]
        for path in paths {
            let first = await live.get(path), second = await live.get(path)
            #expect(first.status == second.status && !first.body.isEmpty, "\(path)")
            #expect(first.text == second.text, "\(path):\n\(first.text)\n\(second.text)")
            #expect(first.text == Self.sortedJSON(first.body), "\(path) has keys out of order: \(first.text)")
        }
        for path in ["/profile", "/journal/count", "/faults"] {
            let first = await live.admin("GET", path), second = await live.admin("GET", path)
            #expect(first.text == second.text && first.text == Self.sortedJSON(first.body), "\(path): \(first.text)")
        }
        await live.server.stop()
    }

    /// The JSON text as Foundation writes it with sorted keys (and unescaped slashes).
    static func sortedJSON(_ body: Data) -> String? {
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    @Test("URLs handed out follow the Host a request came with when bound to every address, else the bound address or --public-url")
    func handedOutURLs() async throws {
        func uploadURL(_ configuration: SimulatorConfiguration, host: String?) async throws -> String {
            let server = try await SimulatorServer.start(configuration)
            defer { Task { await server.stop() } }
            let base = "http://127.0.0.1:\(server.port)"
            let issued = await CurlTestClient.request("POST", base + "/api/auth/anonymous-token", headers: ["X-Client-Id": UUID().uuidString])
            let token = try #require(issued.data?["token"]?.stringValue)
            var headers = skillHeaders.merging(["Authorization": "Bearer \(token)"]) { a, _ in a }
            let created = await CurlTestClient.json("POST", base + "/api/tasks/me/with-session/nemo_agent", token: token, headers: skillHeaders, ["task_name": "p"])
            let session = try #require(created.data?["session_id"]?.stringValue)
            if let host { headers["Host"] = host }
            let upload = await CurlTestClient.request(
                "POST", base + "/api/upload-video/nemo_agent/me/\(session)", headers: headers,
                multipart: [.data(name: "files", filename: "a.png", bytes: Data([0x89, 0x50, 0x4E, 0x47]), contentType: "image/png")])
            return try #require(upload.data?["files"]?[0]?["cdn_url"]?.stringValue)
        }
        // Bound to every address: the Host the client used (a container's published port).
        #expect(try await uploadURL(.init(host: "0.0.0.0"), host: "sim.example:32768").hasPrefix("http://sim.example:32768/_nemosim/media/uploads/"))
        // A Host that is not a plain host[:port] is not echoed.
        let odd = try await uploadURL(.init(host: "0.0.0.0"), host: "evil.example/x?y")
        #expect(odd.hasPrefix("http://0.0.0.0:"), "\(odd)")
        // Bound to loopback: the bound address, whatever the Host.
        #expect(try await uploadURL(.init(), host: "sim.example:32768").hasPrefix("http://127.0.0.1:"))
        for plain in ["sim.example", "sim.example:32768", "10.0.0.7:8080", "[::1]:8080", "[fe80::1]", "localhost"] {
            #expect(Simulation.isPlainHostAndPort(plain), "\(plain)")
        }
        for odd in ["", ":80", "a:", "a:99999", "a:8o", "a b", "a/b", "a@b", "[::1", "[::1]x", "[:g:]", "a:1:2", "ünï.example", String(repeating: "a", count: 300)] {
            #expect(!Simulation.isPlainHostAndPort(odd), "\(odd)")
        }
        // Given: always that.
        #expect(try await uploadURL(.init(host: "0.0.0.0", publicURL: "https://sim.internal/"), host: "x:1").hasPrefix("https://sim.internal/_nemosim/media/"))
    }
}

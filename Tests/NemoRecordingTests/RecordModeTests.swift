import Foundation
import NemoClient
import NemoCore
import NemoRecording
import NemoSimulator
import Testing

@Suite("Record modes and foreign event streams")
struct RecordModeTests {
    func credits(_ available: Int) -> HAREntry {
        HAREntryBuilder.entry(
            request: ClientRequest(method: "GET", url: "http://recorded/api/credits/balance/simple"), started: Date(), elapsed: 1, status: 200,
            headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"available":\#(available)}}"#.utf8))
    }

    @Test("What each mode does with a recording that exists, one that does not, and one whose journal alone is left; the spellings it takes")
    func actions() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-modes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.har")
        let present = directory.appendingPathComponent("present.har")
        try Data("{}".utf8).write(to: present)
        let killed = directory.appendingPathComponent("killed.har")
        try Data("{\"_nemosim\":{}}\n{\"_begin\":{\"n\":1,\"method\":\"GET\",\"path\":\"/api/credits/balance/simple\"}}\n".utf8)
            .write(to: RecordingWriter.journalURL(for: killed))
        // A recorder that could not start leaves at most its header: no recording.
        let neverStarted = directory.appendingPathComponent("never.har")
        try Data("{\"_nemosim\":{}}\n".utf8).write(to: RecordingWriter.journalURL(for: neverStarted))
        #expect(RecordMode.once.action(for: neverStarted) == .record)
        #expect(RecordMode.none.action(for: missing) == .replay)
        #expect(RecordMode.none.action(for: present) == .replay)
        #expect(RecordMode.once.action(for: missing) == .record)
        #expect(RecordMode.once.action(for: present) == .replay)
        #expect(RecordMode.once.action(for: killed) == .replay, "a recording cut off is replayed, not recorded over")
        #expect(RecordMode.newEpisodes.action(for: missing) == .record)
        #expect(RecordMode.newEpisodes.action(for: present) == .replayAndAppend)
        #expect(try RecordMode(parsing: "new_episodes") == .newEpisodes)
        #expect(try RecordMode(parsing: "ONCE") == .once)
        #expect(throws: RecordingError.self) { try RecordMode(parsing: "all") }
        do {
            _ = try RecordMode(parsing: "all")
        } catch {
            #expect("\(error)".contains("none, once or new-episodes"))
        }
    }

    @Test("New episodes: recorded requests answered from the recording, others forwarded to the upstream and appended, crash-safe (a kill before close loses nothing)")
    func newEpisodes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-episodes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("cassette.har")
        let first = try RecordingWriter(url: file, metadata: RecordingMetadata(toolVersion: "test", target: "http://recorded", createdAt: "now"))
        try first.append(credits(7))
        try first.append(HAREntryBuilder.entry(
            request: ClientRequest(
                method: "POST", url: "http://recorded/api/auth/claim-token", headers: [("X-Client-Id", "recorded-client")],
                body: .data(Data(#"{"session_id":"s","task_id":"t"}"#.utf8), contentType: "application/json")),
            started: Date(), elapsed: 1, status: 200, headers: [("Content-Type", "application/json")],
            body: Data(#"{"code":0,"data":{"token":"nmv_usr_recorded0123456789abcdef"},"message":"success"}"#.utf8)))
        try first.close()
        let recording = try Recording.load(file)
        #expect(recording.entries.count == 2)
        #expect(RecordMode.newEpisodes.action(for: file) == .replayAndAppend)

        let upstream = try await SimulatorServer.start(.init(seed: 3, timeScale: 1000))
        let writer = try RecordingWriter(appendingTo: file, recording: recording)
        let replay = try await ReplayServer.start(
            recording: recording, timing: .instant, newEpisodes: NewEpisodes(upstream: upstream.url, writer: writer))
        let curl = CurlTransport()
        defer { curl.shutdown() }
        // Recorded: the recorded answer, the upstream never asked.
        let recorded = try JSONValue.parse(try await curl.send(ClientRequest(method: "GET", url: replay.url + "/api/credits/balance/simple")).body)
        #expect(recorded["data"]?["available"] == 7)
        // Not recorded: the upstream's answer, recorded (the token redacted).
        let issued = try await curl.send(ClientRequest(method: "POST", url: replay.url + "/api/auth/anonymous-token", headers: [("X-Client-Id", "episodes-1")]))
        let token = try JSONValue.parse(issued.body)["data"]?["token"]?.stringValue ?? ""
        #expect(issued.status == 200 && token.hasPrefix("nmv_usr_"))
        #expect(upstream.journalCount(JournalQuery(path: "/api/auth/anonymous-token")) == 1)
        #expect(upstream.journalCount(JournalQuery(path: "/api/credits/balance/simple")) == 0)

        // Killed now: the journal beside the HAR holds the old exchanges and the new one.
        let crashed = try Recording.load(file)
        #expect(crashed.entries.count == 3 && crashed.fromJournal)
        #expect(crashed.cutOff?.contains("newer than cassette.har") == true)

        await replay.stop()
        await upstream.stop()
        try writer.close()
        let appended = try Recording.load(file)
        #expect(!appended.fromJournal && appended.entries.count == 3)
        #expect(appended.entries.map { ReplayMatcher.normalizedPath($0.request.url) } == ["/api/credits/balance/simple", "/api/auth/claim-token", "/api/auth/anonymous-token"])
        // Recorded as the upstream answered, at the upstream's address; its secrets numbered after the recorded ones.
        #expect(appended.entries[2].request.url.hasPrefix(upstream.url))
        #expect(appended.entries[1].response.content.text?.contains("nmv_usr_REDACTED-token-1") == true)
        #expect(appended.entries[2].response.content.text?.contains("nmv_usr_REDACTED-token-2") == true, "a new token never takes a recorded one's placeholder")
        #expect(appended.entries[2].request.headers.contains { $0.name == "X-Client-Id" && $0.value == "REDACTED-client-id-2" })
        #expect(!FileManager.default.fileExists(atPath: RecordingWriter.journalURL(for: file).path))
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(!text.contains(token) && !text.contains("episodes-1"), "the appended exchange is redacted")
    }

    @Test("Mode none: a request the recording lacks is a 404 naming the closest recorded one, and nothing is forwarded")
    func noneForwardsNothing() async throws {
        let replay = try await ReplayServer.start(recording: Recording(metadata: nil, entries: [credits(1)]), timing: .instant)
        let curl = CurlTransport()
        defer { curl.shutdown() }
        let answer = try await curl.send(ClientRequest(method: "POST", url: replay.url + "/api/auth/anonymous-token"))
        #expect(answer.status == 404)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("GET /api/credits/balance/simple"))
        await replay.stop()
    }

    @Test("An event stream recorded whole (mitmproxy, a browser: no offset per event) replays byte for byte at the end of the recorded exchange")
    func foreignStream() async throws {
        let body = ": heartbeat\n\ndata: {\"content\":{\"parts\":[{\"text\":\"hello\"}]}}\nid: e1\n\n: heartbeat\n\n"
        var entry = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://x/run_sse", body: .data(Data("{}".utf8), contentType: "application/json")),
            started: Date(), elapsed: 4200, status: 200, headers: [("Content-Type", "text/event-stream")], body: Data(body.utf8))
        entry.eventStream = nil
        entry.ending = nil
        #expect(entry.isEventStream)
        let items = try #require(entry.replayedEventStream)
        #expect(items.map(\.kind) == [.comment, .event, .comment])
        #expect(items.allSatisfy { $0.offsetMs == 4200 })
        #expect(items[1].id == "e1")

        let clock = ManualRecordingClock()
        let replay = try await ReplayServer.start(recording: Recording(metadata: nil, entries: [entry]), timing: .recorded(timeScale: 2), clock: clock)
        let curl = CurlTransport()
        defer { curl.shutdown() }
        let answer = try await curl.send(
            ClientRequest(method: "POST", url: replay.url + "/run_sse", body: .data(Data("{}".utf8), contentType: "application/json")))
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self) == body)
        #expect(clock.sleeps == [2100], "the recorded body at the recorded end, divided by the time scale")
        await replay.stop()
    }

    @Test("Redaction reads URLs in headers (an HTTP/2 :path, a referer) and textual bodies a browser stored as base64")
    func redactsBrowserShapes() throws {
        let stream = ": hb\n\ndata: {\"type\":\"text\",\"content\":\"your token nmv_usr_streamsecret0123456789\"}\n\n"
        var entry = HAREntryBuilder.entry(
            request: ClientRequest(
                method: "GET", url: "https://cdn.example/v.mp4?signature=sig0123456789abcdef",
                headers: [(":path", "/v.mp4?signature=sig0123456789abcdef"), ("referer", "https://app.example/?access_token=ref0123456789abcdef")]),
            started: Date(), elapsed: 1, status: 200, headers: [("Content-Type", "text/event-stream")], body: Data())
        entry.response.content.text = Data(stream.utf8).base64EncodedString()
        entry.response.content.encoding = "base64"
        entry.eventStream = nil
        let redacted = RecordingWriter.redact(entry, with: Redactor())
        let text = String(decoding: try JSONEncoder().encode(redacted), as: UTF8.self)
        for secret in ["sig0123456789abcdef", "ref0123456789abcdef", "nmv_usr_streamsecret0123456789"] {
            #expect(!text.contains(secret), "\(secret) left in the entry")
        }
        #expect(redacted.response.content.encoding == nil && redacted.replayedEventStream?.count == 2)
    }
}

import Foundation
import NemoClient
import NemoCore
import NemoRecording
import Testing

/// A HAR as a browser's devtools export it (HTTP/2 pseudo-headers, `pages`,
/// `_initiator`, `_resourceType`, `_transferSize`, `-1` timings, a base64
/// body, an event stream recorded whole): `Fixtures/har/browser-session.har`,
/// made by hand after the HAR 1.2 specification and Chromium's export.
@Suite("A browser's HAR")
struct BrowserHARTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/har/browser-session.har")

    @Test("Reads, and replays through the replay server: JSON and base64 answers as recorded, pseudo-headers left out, the stream at its recorded end")
    func replays() async throws {
        let recording = try Recording.load(Self.fixture)
        #expect(recording.entries.count == 3 && recording.metadata == nil && !recording.fromJournal)
        let clock = ManualRecordingClock()
        let replay = try await ReplayServer.start(recording: recording, timing: .recorded(timeScale: 1), clock: clock)
        let curl = CurlTransport()
        defer { curl.shutdown() }
        let token = try await curl.send(
            ClientRequest(method: "POST", url: replay.url + "/api/auth/anonymous-token", headers: [("X-Client-Id", "any")]))
        #expect(token.status == 200)
        #expect(try JSONValue.parse(token.body)["data"]?["token"] == "nmv_usr_9f8e7d6c5b4a39281706f5e4")
        #expect(token.headers.contains { $0.name.lowercased() == "access-control-allow-origin" })
        #expect(!token.headers.contains { $0.name.hasPrefix(":") })
        let credits = try await curl.send(ClientRequest(method: "GET", url: replay.url + "/api/credits/balance/simple"))
        #expect(try JSONValue.parse(credits.body)["data"]?["available"] == 100, "the base64 body, decoded")
        let body = #"{"app_name":"nemo_agent","new_message":{"parts":[{"text":"make a video"}],"role":"user"},"session_id":"7712","user_id":"me"}"#
        let stream = try await curl.send(
            ClientRequest(method: "POST", url: replay.url + "/run_sse", body: .data(Data(body.utf8), contentType: "application/json")))
        #expect(String(decoding: stream.body, as: UTF8.self) == recording.entries[2].response.content.text)
        #expect(clock.sleeps == [65200], "the recorded stream at the recorded end of its exchange")
        #expect(replay.unused.isEmpty)
        await replay.stop()
    }

    @Test("Its timeline page: three rows, one mark per heartbeat and event of the stream, the 65 s silence marked")
    func timeline() throws {
        let page = TimelinePage.html(try Recording.load(Self.fixture), options: .init(title: "browser-session.har"))
        #expect(page.components(separatedBy: "<div class=\"row ").count - 1 == 3)
        #expect(page.components(separatedBy: "data-offset-ms=").count - 1 == 4, "the legend has marks too: count the placed ones")
        #expect(page.components(separatedBy: "<span class=\"gap\" style").count - 1 == 1)
        #expect(!page.contains("nmv_usr_9f8e7d6c5b4a39281706f5e4") && !page.contains("6f1c2a9e-77d4"), "tokens and the client id redacted")
    }

    @Test("HAR 1.2's optional pages and comment may be left out (a proxy's export)")
    func optionalPages() throws {
        let text = #"{"log":{"version":"1.2","creator":{"name":"proxy","version":"1"},"entries":[]}}"#
        let har = try JSONDecoder().decode(HARFile.self, from: Data(text.utf8))
        #expect(har.log.pages.isEmpty && har.log.entries.isEmpty && har.log.comment == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(HARFile.self, from: Data(#"{"log":{"entries":[]}}"#.utf8)) }
    }
}

import Foundation
import NemoClient
import NemoCore
import NemoRecording
import NemoReports
import Testing

@Suite("Timeline page")
struct TimelinePageTests {
    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// A token call, a stream (heartbeats every 15 ms at time scale 1000,
    /// one 60 ms silence, a tool call, text) and an error.
    func recording() -> Recording {
        let started = Date(timeIntervalSince1970: 1_800_000_000)
        let token = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://sim/api/auth/anonymous-token", headers: [("X-Client-Id", "client-secret-77")]),
            started: started, elapsed: 4, status: 200, headers: [("Content-Type", "application/json")],
            body: Data(#"{"code":0,"data":{"token":"nmv_usr_0123456789abcdef0123"},"message":"<b>ok</b>"}"#.utf8))
        var stream = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://sim/run_sse", headers: [("Authorization", "Bearer nmv_usr_0123456789abcdef0123")]),
            started: started.addingTimeInterval(0.010), elapsed: 130, status: 200, headers: [("Content-Type", "text/event-stream")], body: Data())
        stream.eventStream = [
            RecordedStreamItem(kind: .comment, offsetMs: 15, data: "heartbeat"),
            RecordedStreamItem(kind: .event, offsetMs: 30, data: #"{"content":{"parts":[{"functionCall":{"name":"generate_video","args":{}}}]}}"#),
            RecordedStreamItem(kind: .comment, offsetMs: 45, data: "heartbeat"),
            RecordedStreamItem(kind: .event, offsetMs: 120, data: #"{"content":{"parts":[{"text":"Your video is ready"}]}}"#),
        ]
        stream.ending = .closed
        let failed = HAREntryBuilder.entry(
            request: ClientRequest(method: "GET", url: "http://sim/api/credits/balance/simple"), started: started.addingTimeInterval(0.2), elapsed: 2,
            status: 401, headers: [("Content-Type", "application/json")], body: Data(#"{"code":1001,"data":null,"message":"token expired"}"#.utf8))
        var metadata = RecordingMetadata(toolVersion: "test", target: "http://sim", timeScale: 1000, createdAt: "2027-01-15T08:00:00Z")
        metadata.scenario = RunResult(
            target: "http://sim", toolVersion: "test", startedAt: "now",
            files: [ScenarioFileResult(file: "smoke.yaml", scenarios: [
                ScenarioResult(name: "make a video", outcome: .passed, duration: 0.2, log: ["token: 200", "message: text"]),
                ScenarioResult(name: "credits <after> expiry", outcome: .failed(StepFailure(step: "step 1", expected: "200", actual: "401", message: "expired")), duration: 0.1),
            ])])
        return Recording(metadata: metadata, entries: [token, stream, failed])
    }

    @Test("One row per exchange, one mark per recorded event, the silence over 1.5 heartbeat intervals marked, the stream's ending, scenarios with steps")
    func structure() throws {
        let page = TimelinePage.html(recording(), options: .init(title: "session.har"))
        #expect(count(in: page, "class=\"row ") == 3)
        #expect(count(in: page, "<span class=\"mark heartbeat\" style") == 2)
        #expect(count(in: page, "<span class=\"mark tool-call\" style") == 1)
        #expect(count(in: page, "<span class=\"mark text\" style") == 1)
        // 15 ms interval at time scale 1000: the 75 ms between 45 and 120 ms is a gap; the others are not.
        #expect(count(in: page, "<span class=\"gap\" style") == 1)
        #expect(page.contains("title=\"no event for 75 ms (heartbeat interval 15 ms)\""))
        #expect(page.contains("<span class=\"end closed\""))
        #expect(page.contains("data-status=\"401\"") && page.contains("code 1001"))
        #expect(count(in: page, "<details class=\"scenario ") == 2)
        #expect(page.contains("<li>message: text</li>"))
        #expect(page.contains("credits &lt;after&gt; expiry"))
        #expect(count(in: page, "<section class=\"detail\" id=\"detail-") == 3)
    }

    func count(in text: String, _ needle: String) -> Int { count(needle, in: text) }

    @Test("Self-contained and safe: no URL fetched, recorded text escaped, secrets redacted even in a HAR made elsewhere")
    func safe() throws {
        let page = TimelinePage.html(recording(), options: .init(title: "<script>alert(1)</script>.har"))
        #expect(!page.contains("<script>alert(1)"))
        #expect(page.contains("&lt;b&gt;ok&lt;/b&gt;"))
        for secret in ["nmv_usr_0123456789abcdef0123", "client-secret-77"] {
            #expect(!page.contains(secret), "\(secret) is on the page")
        }
        for fetch in ["src=", "href=", "@import", "url("] {
            #expect(!page.contains(fetch), "the page would fetch: \(fetch)")
        }
        #expect(page.contains("Content-Security-Policy\" content=\"default-src 'none'"))
    }

    @Test("A silent close, a stream cut off and one recorded whole by another tool (its events at the exchange's end)")
    func endings() throws {
        var base = recording()
        base.entries[1].eventStream?.removeLast()
        var cut = base.entries[1]
        cut.ending = .dropped("connection reset")
        var foreign = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://sim/run_sse"), started: Date(timeIntervalSince1970: 1_800_000_001), elapsed: 90,
            status: 200, headers: [("Content-Type", "text/event-stream")], body: Data(": hb\n\ndata: {\"content\":{\"parts\":[{\"text\":\"hi\"}]}}\n\n".utf8))
        foreign.eventStream = nil
        foreign.ending = nil
        let page = TimelinePage.html(Recording(metadata: nil, entries: [base.entries[1], cut, foreign]), options: .init(title: "x"))
        #expect(page.contains("<span class=\"end silent\""))
        #expect(page.contains("<span class=\"end dropped\"") && page.contains("cut off: connection reset"))
        #expect(count(in: page, "data-offset-ms=\"90\"") == 2, "the foreign stream's two events at its end")
    }

    @Test("Numbers a file gives never trap: a scenario that took 1e300 s, an exchange of -1 ms")
    func hostileNumbers() {
        var recording = recording()
        recording.metadata?.scenario?.files[0].scenarios[0].duration = 1e300
        recording.metadata?.scenario?.files[0].scenarios[1].duration = -1e300
        recording.entries[0].time = -1
        let page = TimelinePage.html(recording, options: .init(title: "x"))
        #expect(page.contains("class=\"row "))
    }
}

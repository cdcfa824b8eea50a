import Foundation
import NemoClient
import NemoCore
import NemoRecording
import Testing

/// HAR files from anywhere and secrets in unexpected places.
@Suite("Recording hardening")
struct RecordingHardeningTests {
    /// A one-entry HAR whose event offset and time are `offset` and `time`.
    func har(offset: String, time: String = "12") -> String {
        """
        {"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "pages": [], "entries": [{
          "startedDateTime": "2026-11-28T00:00:00.000Z", "time": \(time),
          "request": {"method": "POST", "url": "http://x/run_sse", "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
          "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
            "content": {"size": 0, "mimeType": "text/event-stream", "text": ""}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
          "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 1},
          "_eventStream": [{"kind": "event", "offset_ms": \(offset), "data": "{}"}]
        }]}}
        """
    }

    @Test("A HAR whose event offsets or times are huge, negative or beyond a Double is refused, naming the entry")
    func hostileNumbers() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-har-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("x.har")
        for (offset, time) in [("1e300", "12"), ("-1e300", "12"), ("-5", "12"), ("1", "1e300"), ("1", "-1e300"), ("9223372036854775808e10", "1")] {
            try har(offset: offset, time: time).write(to: file, atomically: true, encoding: .utf8)
            #expect(throws: RecordingError.self, "offset \(offset), time \(time)") { try Recording.load(file) }
            do { _ = try Recording.load(file) } catch { #expect("\(error)".contains("entry 1"), "\(error)") }
        }
        try har(offset: "250.5").write(to: file, atomically: true, encoding: .utf8)
        #expect(try Recording.load(file).entries.first?.eventStream?.first?.offsetMs == 250.5)
    }

    @Test("Credentials in query strings and any nmv_/clm_ token anywhere are redacted, the first time they are seen")
    func redaction() {
        let redactor = Redactor()
        for parameter in ["access_token", "api_key", "apikey", "key", "token", "sig", "client_secret", "password"] {
            let url = redactor.url("https://api.example/x?\(parameter)=supersecretvalue123&page=2")
            #expect(!url.contains("supersecretvalue123"), "\(parameter): \(url)")
            #expect(url.contains("page=2"))
        }
        let text = redactor.text("error for token nmv_usr_abcdef123456 and claim clm_zyx98765432; see nmv_usr_ tokens")
        #expect(!text.contains("nmv_usr_abcdef123456") && !text.contains("clm_zyx98765432"), "\(text)")
        #expect(text.contains("nmv_usr_REDACTED-token-") && text.contains("clm_REDACTED-claim-"), "\(text)")
        #expect(text.contains("see nmv_usr_ tokens"), "a bare prefix is not a token")
        // In a path, and again later: the same placeholder.
        let path = redactor.url("http://x/api/claim/nmv_usr_abcdef123456/open")
        #expect(!path.contains("abcdef123456"))
        #expect(redactor.text("nmv_usr_abcdef123456") == redactor.text("again: nmv_usr_abcdef123456").replacingOccurrences(of: "again: ", with: ""))
        // Redacting twice changes nothing.
        #expect(redactor.text(text) == text)
    }
}

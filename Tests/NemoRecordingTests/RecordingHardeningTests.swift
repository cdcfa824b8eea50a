import Foundation
import NemoClient
import NemoCore
import NemoSimulator
@testable import NemoRecording
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

@Suite("Recording proxy spool files")
struct SpoolTests {
    @Test("A spool file left by a proxy that was killed is removed at the next start; an aborted upload leaves none")
    func leftovers() async throws {
        // A process that has ended: its pid is free.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let orphan = Spool.folder.appendingPathComponent("\(Spool.prefix)\(ended.processIdentifier)-\(UUID().uuidString).body")
        try Data("left behind".utf8).write(to: orphan)
        let mine = Spool.folder.appendingPathComponent("\(Spool.prefix)\(getpid())-\(UUID().uuidString).body")
        try Data("in use".utf8).write(to: mine)
        Spool.removeLeftovers()
        #expect(!FileManager.default.fileExists(atPath: orphan.path), "a dead proxy's spool file stayed")
        #expect(FileManager.default.fileExists(atPath: mine.path), "a live proxy's spool file was removed")
        Spool.removeLeftovers(includingOwn: true)
        #expect(!FileManager.default.fileExists(atPath: mine.path), "the proxy's own spool files stayed after it stopped")
    }

    @Test("An upload cut off on its way through the proxy leaves no spool file")
    func abortedUpload() async throws {
        let upstream = try await SimulatorServer.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try RecordingWriter(
            url: directory.appendingPathComponent("p.har"), metadata: RecordingMetadata(toolVersion: "t", target: upstream.url, createdAt: "now"))
        let proxy = try await RecordingProxy.start(upstream: upstream.url, writer: writer)
        let body = directory.appendingPathComponent("big.bin")
        try Data(count: 6 << 20).write(to: body)
        // curl sends 2 MiB a second and gives up after 1.5 s: the proxy has spooled past 1 MiB by then.
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-o", "/dev/null", "--limit-rate", "2M", "-m", "1.5", "--data-binary", "@" + body.path, proxy.url + "/api/credits/balance/simple"]
        try curl.run()
        curl.waitUntilExit()
        // The proxy removes it once it sees the client gone (up to 5 s on a loaded machine).
        let own = "\(Spool.prefix)\(getpid())-"
        var left: [String] = ["?"]
        for _ in 0..<100 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
            left = try FileManager.default.contentsOfDirectory(atPath: Spool.folder.path).filter { $0.hasPrefix(own) }
        }
        #expect(left.isEmpty, "spool files left: \(left)")
        try await proxy.stop()
        await upstream.stop()
    }
}

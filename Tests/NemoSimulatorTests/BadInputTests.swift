import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

#if canImport(Glibc)
import Glibc
#endif

/// Sends raw bytes on a new TCP connection and reads until the server closes
/// or `timeout` passes. For requests no well-behaved client would send.
func rawExchange(port: Int, _ bytes: [UInt8], closeWriteAfterSend: Bool = false, timeout: Double = 3) async -> String {
    await withCheckedContinuation { continuation in
        Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                continuation.resume(returning: "")
                return
            }
            var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            if closeWriteAfterSend { shutdown(fd, Int32(SHUT_WR)) }
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            continuation.resume(returning: String(decoding: received, as: UTF8.self))
        }.start()
    }
}

@Suite("Bad input gets a clear error and the server keeps serving")
struct BadInputTests {
    func stillServing(_ live: LiveSession) async {
        let health = await CurlTestClient.request("GET", live.url + "/_nemosim/health")
        #expect(health.status == 200, "the server stopped answering")
        #expect(await live.get("/api/credits/balance/simple").code == 0)
    }

    @Test("Malformed JSON, wrong types, missing fields, unknown session")
    func jsonErrors() async throws {
        let live = try await LiveSession.start()
        let path = "/run_sse"
        let malformed = await CurlTestClient.request(
            "POST", live.url + path, headers: live.auth.merging(["Content-Type": "application/json"]) { a, _ in a }, body: Data("{\"app_name\": ".utf8))
        #expect(malformed.status == 400 && malformed.text.contains("not valid JSON"))
        await stillServing(live)
        let wrongType = await live.post(path, ["app_name": "nemo_agent", "session_id": .string(live.session), "new_message": "hi"])
        #expect(wrongType.status == 400 && wrongType.text.contains("new_message"))
        await stillServing(live)
        let missing = await live.post(path, ["app_name": "nemo_agent", "new_message": ["parts": [["text": "hi"]]]])
        #expect(missing.status == 400 && missing.text.contains("session_id"))
        await stillServing(live)
        let unknownSession = await live.post(path, ["session_id": "123", "new_message": ["parts": [["text": "hi"]]]])
        #expect(unknownSession.code == 1002 && unknownSession.text.contains("create a new session"))
        let emptyBody = await live.post("/api/render/proxy/lambda", nil)
        #expect(emptyBody.status == 400 && emptyBody.text.contains("empty"))
        let renderWrong = await live.post(
            "/api/render/proxy/lambda", ["id": 5, "sessionId": .string(live.session), "draft": ["t": [["tt": 0, "sg": [["s": 0, "d": 1000]]]]]])
        #expect(renderWrong.status == 400 && renderWrong.text.contains("id"))
        // Numbers out of range must not bring the server down (with or without a token).
        let huge = await CurlTestClient.json("POST", live.url + "/api/render/proxy/lambda", ["id": "r", "sessionId": "1", "draft": ["d": "1e19"]])
        #expect(huge.status == 402 || huge.code == 1001 || huge.status == 400)
        await stillServing(live)
        _ = await live.send("make a video")
        try await live.server.simulation.advanceClock(by: 400)
        for text in ["trim it to 1e16 seconds", "trim to inf seconds", "make it longer by 99999999999999999999 seconds"] {
            _ = await live.send(text)
            try await live.server.simulation.advanceClock(by: 60)
            await stillServing(live)
        }
        let sessionWrong = await live.post("/api/tasks/me/with-session/nemo_agent", ["task_name", "x"])
        #expect(sessionWrong.status == 400)
        await stillServing(live)
        await live.server.stop()
    }

    @Test("Invalid multipart: no boundary, cut off before the closing boundary, part without a filename")
    func multipartErrors() async throws {
        let live = try await LiveSession.start()
        let path = "/api/upload-video/nemo_agent/me/\(live.session)"
        let noBoundary = await CurlTestClient.request(
            "POST", live.url + path, headers: live.auth.merging(["Content-Type": "multipart/form-data"]) { a, _ in a }, body: Data("x".utf8))
        #expect(noBoundary.status == 400 && noBoundary.text.contains("boundary"))
        let truncated = "--XYZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.mp4\"\r\n\r\nabcdef"
        let cut = await CurlTestClient.request(
            "POST", live.url + path, headers: live.auth.merging(["Content-Type": "multipart/form-data; boundary=XYZ"]) { a, _ in a }, body: Data(truncated.utf8))
        #expect(cut.status == 400 && cut.text.contains("closing boundary"))
        let unnamed = "--XYZ\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\nabc\r\n--XYZ--\r\n"
        let noName = await CurlTestClient.request(
            "POST", live.url + path, headers: live.auth.merging(["Content-Type": "multipart/form-data; boundary=XYZ"]) { a, _ in a }, body: Data(unnamed.utf8))
        #expect(noName.status == 400 && noName.text.contains("filename"))
        let noFiles = "--XYZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--XYZ--\r\n"
        let other = await CurlTestClient.request(
            "POST", live.url + path, headers: live.auth.merging(["Content-Type": "multipart/form-data; boundary=XYZ"]) { a, _ in a }, body: Data(noFiles.utf8))
        #expect(other.status == 400 && other.json["message"]?.stringValue?.contains("\"files\"") == true)
        let plain = await CurlTestClient.request("POST", live.url + path, headers: live.auth.merging(["Content-Type": "text/plain"]) { a, _ in a }, body: Data("x".utf8))
        #expect(plain.status == 400 && plain.text.contains("multipart/form-data"))
        await stillServing(live)
        await live.server.stop()
    }

    @Test("Huge headers, a body cut off before its declared length, garbage instead of HTTP")
    func wireErrors() async throws {
        let live = try await LiveSession.start()
        let huge = "GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n"
        let hugeAnswer = await rawExchange(port: live.server.port, Array(huge.utf8))
        #expect(!hugeAnswer.contains("200 OK"))
        await stillServing(live)

        let cut = "POST /run_sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(live.token)\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"session_id\": \"1\""
        _ = await rawExchange(port: live.server.port, Array(cut.utf8), closeWriteAfterSend: true, timeout: 2)
        await stillServing(live)

        let uploadCut = "POST /api/upload-video/nemo_agent/me/\(live.session) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(live.token)\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.mp4\"\r\n\r\n0123456789"
        _ = await rawExchange(port: live.server.port, Array(uploadCut.utf8), closeWriteAfterSend: true, timeout: 2)
        await stillServing(live)

        let longer = "POST /api/auth/anonymous-token HTTP/1.1\r\nHost: x\r\nX-Client-Id: raw\r\nContent-Length: 2\r\n\r\nabcdefgh"
        let longerAnswer = await rawExchange(port: live.server.port, Array(longer.utf8), closeWriteAfterSend: true, timeout: 2)
        #expect(longerAnswer.hasPrefix("HTTP/1.1 200"))
        await stillServing(live)

        let garbage = await rawExchange(port: live.server.port, Array("\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n".utf8), closeWriteAfterSend: true, timeout: 2)
        #expect(!garbage.contains("200 OK"))
        await stillServing(live)
        await live.server.stop()
    }
}

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

/// Bytes on the wire no client would send (the rest of bad input goes
/// through the router: RouterFrontTests).
@Suite("Bad input gets a clear error and the server keeps serving")
struct BadInputTests {
    func stillServing(_ live: LiveSession) async {
        let health = await CurlTestClient.request("GET", live.url + "/_nemosim/health")
        #expect(health.status == 200, "the server stopped answering")
        #expect(await live.get("/api/credits/balance/simple").code == 0)
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

        // A chunked body that lies about its chunk and ends: no session is made of it.
        let sessionsBefore = await live.server.simulation.sessions.count
        let lyingChunks = "POST /api/tasks/me/with-session/nemo_agent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(live.token)\r\nX-Skill-Source: t\r\nX-Skill-Version: 1\r\nX-Skill-Platform: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n{\"task_name\": \"x\"}"
        let lyingAnswer = await rawExchange(port: live.server.port, Array(lyingChunks.utf8), closeWriteAfterSend: true, timeout: 2)
        #expect(!lyingAnswer.contains("200 OK"), "\(lyingAnswer)")
        #expect(await live.server.simulation.sessions.count == sessionsBefore, "a session was made of a body that never arrived")
        await stillServing(live)

        let garbage = await rawExchange(port: live.server.port, Array("\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n".utf8), closeWriteAfterSend: true, timeout: 2)
        #expect(!garbage.contains("200 OK"))
        await stillServing(live)
        await live.server.stop()
    }
}

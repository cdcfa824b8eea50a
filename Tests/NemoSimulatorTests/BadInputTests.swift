import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

#if canImport(Glibc)
import Glibc
#endif

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

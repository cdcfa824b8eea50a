import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection held open by a test: what idle clients, slowloris
/// attackers and half-sent requests do.
final class HeldSocket: @unchecked Sendable {
    let fd: Int32

    init?(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Sends `text` and returns the first bytes answered (empty when the
    /// connection closed or nothing came within 10 s).
    func exchange(_ text: String) async -> String {
        guard send(text) else { return "" }
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            Thread {
                var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pollFD, 1, 10_000) > 0 else { return continuation.resume(returning: "") }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                continuation.resume(returning: n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "")
            }.start()
        }
    }

    /// Whether the server closed the connection within `seconds` (reads
    /// and drops whatever it sends first).
    func closedByServer(within seconds: Double) async -> Bool {
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            Thread {
                let deadline = Date().addingTimeInterval(seconds)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while Date() < deadline {
                    var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&pollFD, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
                    if ready <= 0 { continue }
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { return continuation.resume(returning: true) }
                }
                continuation.resume(returning: false)
            }.start()
        }
    }
}

/// Idle and slow connections cannot take the simulator from everyone else
/// (the timeouts and the connection limit of `ConnectionLimits`).
@Suite("Connection limits")
struct ConnectionLimitTests {
    @Test("Idle, slowloris and stalled-body connections are closed after the timeouts; an event stream longer than both is not")
    func timeouts() async throws {
        let live = try await LiveSession.start(limits: ConnectionLimits(idleSeconds: 0.5, requestSeconds: 0.5)) {
            // A 3 s (real) reply with heartbeats every 0.1 s: longer than both timeouts.
            $0.replyDurationSeconds = SecondsRange(3000, 3000)
            $0.heartbeatIntervalSeconds = 100
            $0.temporaryIssueRatio = 0
            // The steps before the stream take seconds of real time: hours at 1000x.
            $0.sessionIdleTTLSeconds = 1_000_000
        }
        let idle = try #require(HeldSocket(port: live.server.port))
        #expect(await idle.closedByServer(within: 10), "an idle connection stayed open")

        let slow = try #require(HeldSocket(port: live.server.port))
        slow.send("GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n")
        let trickle = Task {
            for _ in 0..<100 {
                guard slow.send("X-Slow: 1\r\n") else { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(await slow.closedByServer(within: 10), "a slowloris head was never closed")
        trickle.cancel()

        let stalled = try #require(HeldSocket(port: live.server.port))
        stalled.send("POST /api/tasks/me/with-session/nemo_agent HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"task_")
        #expect(await stalled.closedByServer(within: 10), "a stalled body was never closed")

        // A keep-alive connection that was answered is closed once idle too.
        let answered = try #require(HeldSocket(port: live.server.port))
        answered.send("GET /_nemosim/health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await answered.closedByServer(within: 10))

        // The stream outlives both timeouts and ends with its text.
        let stream = await live.send("hello there")
        #expect(stream.curlCode == 0, "the stream was cut: curl \(stream.curlCode)")
        #expect(stream.agentEvents.last?.kind == "text", "\(stream.status): \(stream.text.prefix(300))")
        #expect(stream.agentEvents.filter { $0.kind == "heartbeat" }.count >= 10)
        await live.server.stop()
    }

    @Test("Over the connection limit a new connection is closed at once, and a place frees when one closes")
    func limit() async throws {
        // No connection before the test's own (LiveSession's would race them).
        let server = try await SimulatorServer.start(.init(limits: ConnectionLimits(idleSeconds: 60, requestSeconds: 60, maximumConnections: 4)))
        // Four connections, each answered once (so each surely holds its place:
        // connections are set up on several event loops, in no fixed order).
        var held: [HeldSocket] = []
        for _ in 0..<4 {
            let socket = try #require(HeldSocket(port: server.port))
            #expect(await socket.exchange("GET /_nemosim/health HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            held.append(socket)
        }
        let over = try #require(HeldSocket(port: server.port))
        #expect(await over.closedByServer(within: 5), "a connection over the limit was kept")
        #expect(await held[0].closedByServer(within: 0.2) == false, "a connection within the limit was closed")
        held.removeFirst()  // closes it
        try await Task.sleep(for: .milliseconds(200))
        #expect(await CurlTestClient.request("GET", server.url + "/_nemosim/health").status == 200, "a freed place was not given to the next client")
        await server.stop()
    }
}

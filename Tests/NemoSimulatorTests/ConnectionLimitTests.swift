import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

#if canImport(Glibc)
import Glibc
#endif

/// Idle and slow connections cannot take the simulator from everyone else
/// (the timeouts and the connection limit of `ConnectionLimits`).
@Suite("Connection limits")
struct ConnectionLimitTests {
    @Test("Idle, slowloris and stalled-body connections are closed after the timeouts; an event stream longer than both is not")
    func timeouts() async throws {
        // 1.5 s: short for the test, long enough that a loaded machine's
        // client still sends its request before the idle limit.
        let live = try await LiveSession.start(limits: ConnectionLimits(idleSeconds: 1.5, requestSeconds: 1.5)) {
            // A 4 s (real) reply with heartbeats every 0.1 s: longer than both timeouts.
            $0.replyDurationSeconds = SecondsRange(4000, 4000)
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
        // The server learns of the close on its event loop, which other tests
        // running at once may keep busy: asked until answered (refused
        // attempts take no place), and a place never freed still fails.
        let deadline = ContinuousClock.now + .seconds(10)
        var status = 0
        while status != 200, ContinuousClock.now < deadline {
            status = await CurlTestClient.request("GET", server.url + "/_nemosim/health").status
            if status != 200 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(status == 200, "a freed place was not given to the next client")
        #expect(held.count == 3)
        await server.stop()
    }
}

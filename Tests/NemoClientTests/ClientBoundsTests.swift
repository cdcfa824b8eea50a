import Foundation
import NemoClient
import NemoCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A server the client does not control cannot exhaust it: floods are
/// stopped with a clear error, a silent server fails in seconds.
@Suite("The client against hostile servers")
struct ClientBoundsTests {
    func client(_ server: HostileServer, options: CurlTransport.Options = .init()) -> NemoClient {
        NemoClient(
            configuration: ClientConfiguration(baseURL: server.url, token: "nmv_usr_test", clientID: "bounds"),
            transport: CurlTransport(options: options), policy: .none, sessionID: "s1")
    }

    static let streamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"

    @Test("A JSON answer larger than the transport holds is an error, not gigabytes of memory")
    func hugeBody() async throws {
        let server = try HostileServer { _, fd in
            HostileServer.write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"code\":0,\"data\":{\"x\":\"")
            let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 16)
            for _ in 0..<1024 where HostileServer.write(fd, chunk) {}  // up to 64 MiB
        }
        do {
            _ = try await client(server, options: .init(maximumBufferedBytes: 1 << 20)).credits()
            Issue.record("a 64 MiB answer was read")
        } catch let error as NemoError {
            #expect("\(error)".contains("larger than 1048576 bytes"), "\(error)")
        }
    }

    @Test("A server that accepts and never answers fails the call in the low-speed time, not the 15-minute timeout")
    func silentServer() async throws {
        let server = try HostileServer { _, _ in Thread.sleep(forTimeInterval: 30) }
        let started = ContinuousClock.now
        do {
            _ = try await client(server, options: .init(lowSpeedSeconds: 1)).credits()
            Issue.record("a silent server answered")
        } catch let error as NemoError {
            #expect("\(error)".localizedCaseInsensitiveContains("too slow") || "\(error)".localizedCaseInsensitiveContains("timed out"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test("An event-stream line with no end, or an event over the limit, stops the stream with a clear error")
    func endlessLine() async throws {
        let server = try HostileServer { _, fd in
            HostileServer.write(fd, Self.streamHead + "data: ")
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 16)
            for _ in 0..<(256) where HostileServer.write(fd, chunk) {}  // 16 MiB, no newline
        }
        await #expect(throws: NemoError.self) { _ = try await client(server).sendAndWait("hi") }
        do { _ = try await client(server).sendAndWait("hi") } catch {
            #expect("\(error)".contains("over 4194304 bytes"), "\(error)")
        }
    }

    @Test("More events than a stream ever sends stop it; heartbeats are counted, never kept")
    func eventFlood() async throws {
        let flood = try HostileServer { _, fd in
            HostileServer.write(fd, Self.streamHead)
            let events = String(repeating: "data: {\"type\":\"text\",\"text\":\"spam\"}\n\n", count: 1000)
            for _ in 0..<20 where HostileServer.write(fd, events) {}
        }
        do {
            _ = try await client(flood).sendAndWait("hi")
            Issue.record("20,000 events were kept")
        } catch {
            #expect("\(error)".contains("over 10000 events"), "\(error)")
        }
        let beats = try HostileServer { _, fd in
            HostileServer.write(fd, Self.streamHead)
            HostileServer.write(fd, String(repeating: "data: {\"type\":\"heartbeat\"}\n\n", count: 20_000))
            HostileServer.write(fd, "data: {\"type\":\"text\",\"text\":\"done\"}\n\n")
        }
        let outcome = try await client(beats).sendAndWait("hi")
        #expect(outcome.heartbeats == 20_000 && outcome.events == [.text("done")])
    }
}

@Suite("The transport's stream pace")
struct StreamPaceTests {
    @Test("A stream reader that falls behind pauses the transfer: the server cannot push the whole stream into memory")
    func backpressure() async throws {
        let sent = Mutex(0)
        let server = try HostileServer { _, fd in
            HostileServer.write(fd, ClientBoundsTests.streamHead)
            let chunk = [UInt8](repeating: UInt8(ascii: ":"), count: 1 << 16) + Array("\n".utf8)
            for _ in 0..<1024 {  // 64 MiB of comments
                guard HostileServer.write(fd, chunk) else { return }
                sent.withLock { $0 += chunk.count }
            }
        }
        let transport = CurlTransport()
        let stream = transport.stream(ClientRequest(method: "GET", url: server.url + "/run_sse"))
        var iterator = stream.makeAsyncIterator()
        var bodyChunks = 0
        while bodyChunks < 1, let part = try await iterator.next() {
            if case .body = part { bodyChunks += 1 }
        }
        // The reader stops reading a while: the transfer must stop too.
        try await Task.sleep(for: .seconds(1.5))
        let pushed = sent.withLock { $0 }
        #expect(pushed < 24 << 20, "the server pushed \(pushed) bytes while the reader read one chunk")
        // Reading on, the rest arrives.
        var total = 0
        while let part = try await iterator.next() {
            if case .body(let data) = part { total += data.count }
        }
        #expect(total > 60 << 20, "the stream did not resume after the pause: \(total) bytes")
    }
}

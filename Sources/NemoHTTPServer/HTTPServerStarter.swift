import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A Hummingbird server started by ``HTTPServerStarter``: its URL and port,
/// and a graceful stop.
public struct RunningHTTPServer: Sendable {
    /// `http://HOST:PORT` (an IPv6 host in brackets).
    public let url: String
    public let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// Stops gracefully: open connections finish, then the server closes.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Waits until the server stops (a signal, or ``stop()``).
    public func wait() async throws {
        try await task.value
    }
}

/// Why a server did not start.
public struct HTTPServerStartError: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let reason: String
    public var description: String { "could not start the server on \(host.contains(":") ? "[\(host)]" : host):\(port): \(reason)" }
}

/// Starts a Hummingbird application on a port (0 = any free one) and returns
/// once it is bound, for the simulator, the replay server and the recording
/// proxy alike.
public enum HTTPServerStarter {
    public static func start<Responder: HTTPResponder>(
        responder: Responder, host: String, port: Int, handleSignals: Bool, logger: Logger, limits: ConnectionLimits = ConnectionLimits(),
        shutdownGrace: Duration = .seconds(1), channelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] }
    ) async throws -> RunningHTTPServer where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let problems = limits.validationErrors()
        guard problems.isEmpty else { throw HTTPServerStartError(host: host, port: port, reason: problems.joined(separator: "; ")) }
        let bound = Mutex<Int?>(nil)
        let failure = Mutex<String?>(nil)
        let app = Application(
            responder: responder, server: LeanHTTP1Channel.builder(limits: limits, channelHandlers: channelHandlers),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in bound.withLock { $0 = channel.localAddress?.port ?? -1 } }, logger: logger)
        // On a signal, open connections (event streams too) get `shutdownGrace`
        // to finish, then are cancelled. (A second signal is the command's:
        // ServiceLifecycle takes a signal for one or the other, not both.)
        var configuration = ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownGrace
        let group = ServiceGroup(configuration: configuration)
        let task = Task {
            do {
                try await group.run()
                failure.withLock { $0 = $0 ?? "the server stopped before it was ready" }
            } catch {
                failure.withLock { $0 = "\(error)" }
                throw error
            }
        }
        // Wait until the socket is bound (or the server failed to start).
        while true {
            if let boundPort = bound.withLock({ $0 }) {
                guard boundPort > 0 else {
                    await group.triggerGracefulShutdown()
                    throw HTTPServerStartError(host: host, port: port, reason: "no local port")
                }
                let shown = host.contains(":") ? "[\(host)]" : host
                return RunningHTTPServer(url: "http://\(shown):\(boundPort)", port: boundPort, group: group, task: task)
            }
            if let message = failure.withLock({ $0 }) {
                throw HTTPServerStartError(host: host, port: port, reason: message)
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// Hummingbird's HTTP/1 channel with a smaller receive buffer, the
/// connection limits (``ConnectionLimits``: over the connection limit a new
/// connection is closed at once; idle, slow and stalled ones are closed by
/// ``ConnectionDeadlineHandler``), and any extra channel handlers (placed
/// after NIO's HTTP parser, before the request reaches Hummingbird). NIO keeps each connection's receive buffer
/// for reuse (2 KiB by default, an idle keep-alive connection included);
/// starting at 512 bytes and adapting from there saves about 1.5 KiB per
/// open connection (measured with heaptrack: 10,000 held event streams) and
/// still grows to 64 KiB reads for uploads.
struct LeanHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let budget: ConnectionBudget

    /// - Parameter channelHandlers: makes each connection's extra handlers.
    static func builder(
        limits: ConnectionLimits = ConnectionLimits(), channelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] }
    ) -> HTTPServerBuilder {
        let budget = ConnectionBudget(limit: limits.effectiveMaximumConnections)
        let sweeper = DeadlineSweeper(limits)
        return HTTPServerBuilder { responder in
            LeanHTTP1Channel(
                base: HTTP1Channel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [ConnectionDeadlineHandler(limits, sweeper: sweeper)] + channelHandlers())),
                budget: budget)
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard budget.acquire() else {
            // Refused at once: the client sees the connection closed instead
            // of a place in a queue. (NIO does not close a channel whose setup
            // failed: it would leak.)
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        let budget = self.budget
        channel.closeFuture.whenComplete { _ in budget.release() }
        return channel.setOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .flatMap { base.setup(channel: channel, logger: logger) }
            .flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
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
    let budget: ConnectionBudget
    let shutdownGrace: Duration

    /// Stops gracefully: open connections finish, then the server closes.
    /// Connections served without a task of their own (see ``RouterGate``)
    /// are closed by their handlers within the grace; this waits for them
    /// (and a little longer, never forever).
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        await drain()
    }

    /// Waits for the connections the stopped server still has.
    private func drain() async {
        let deadline = ContinuousClock.now + shutdownGrace + .seconds(2)
        while budget.openConnections > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits until the server stops (a signal, or ``stop()``) and its
    /// connections have closed.
    public func wait() async throws {
        do {
            try await task.value
        } catch {
            await drain()
            throw error
        }
        await drain()
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
        shutdownGrace: Duration = .seconds(1), routerOnDemand: Bool = false,
        channelHandlers: @escaping @Sendable (RouterGate) -> [any RemovableChannelHandler] = { _ in [] }
    ) async throws -> RunningHTTPServer where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let problems = limits.validationErrors()
        guard problems.isEmpty else { throw HTTPServerStartError(host: host, port: port, reason: problems.joined(separator: "; ")) }
        let bound = Mutex<Int?>(nil)
        let budget = ConnectionBudget(limit: limits.effectiveMaximumConnections)
        let failure = Mutex<String?>(nil)
        let app = Application(
            responder: responder, server: LeanHTTP1Channel.builder(
                limits: limits, budget: budget, routerOnDemand: routerOnDemand, shutdownGrace: shutdownGrace, channelHandlers: channelHandlers),
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
                return RunningHTTPServer(
                    url: "http://\(shown):\(boundPort)", port: boundPort, group: group, task: task, budget: budget, shutdownGrace: shutdownGrace)
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
/// ``ConnectionDeadlineHandler``), any extra channel handlers (placed after
/// NIO's HTTP parser, before the request reaches Hummingbird), and, when
/// asked, Hummingbird's part of the pipeline added only for the first
/// request that needs the router (``RouterGate``). NIO keeps each
/// connection's receive buffer for reuse (2 KiB by default, an idle
/// keep-alive connection included); starting at 512 bytes and adapting
/// from there saves about 1.5 KiB per open connection (measured with
/// heaptrack: 10,000 held event streams) and still grows to 64 KiB reads
/// for uploads.
struct LeanHTTP1Channel: ServerChildChannel {
    typealias Value = RouterGate
    let base: HTTP1Channel
    let budget: ConnectionBudget
    let routerOnDemand: Bool
    let shutdownGrace: TimeAmount
    let sweeper: DeadlineSweeper
    let channelHandlers: @Sendable (RouterGate) -> [any RemovableChannelHandler]
    /// Starts Hummingbird's handling of a connection whose gate opened on
    /// demand (one closure for every connection).
    let startRouter: (@Sendable (NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Logger) -> Void)?
    /// What every connection's gate shares, made for the first connection
    /// (Hummingbird hands every connection the server's logger).
    let gateSettings: SettingsCache
    /// Gives a connection's place back when it closes (one closure for every connection).
    let releasePlace: @Sendable (Result<Void, any Error>) -> Void

    /// - Parameters:
    ///   - routerOnDemand: the extra handlers open each connection's ``RouterGate`` themselves (otherwise it opens at once).
    ///   - channelHandlers: makes each connection's extra handlers.
    static func builder(
        limits: ConnectionLimits = ConnectionLimits(), budget: ConnectionBudget, routerOnDemand: Bool = false, shutdownGrace: Duration = .seconds(1),
        channelHandlers: @escaping @Sendable (RouterGate) -> [any RemovableChannelHandler] = { _ in [] }
    ) -> HTTPServerBuilder {
        let sweeper = DeadlineSweeper(limits)
        return HTTPServerBuilder { responder in
            let base = HTTP1Channel(responder: responder)
            var startRouter: (@Sendable (NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Logger) -> Void)?
            if routerOnDemand {
                startRouter = { asyncChannel, logger in
                    Task { await base.handleHTTP(asyncChannel: asyncChannel, logger: logger) }
                }
            }
            return LeanHTTP1Channel(
                base: base, budget: budget, routerOnDemand: routerOnDemand, shutdownGrace: .nanoseconds(Int64(shutdownGrace.inSeconds * 1e9)),
                sweeper: sweeper, channelHandlers: channelHandlers, startRouter: startRouter, gateSettings: SettingsCache(),
                releasePlace: { _ in budget.release() })
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
        channel.closeFuture.whenComplete(releasePlace)
        let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
        guard channel.eventLoop.inEventLoop, let options = channel.syncOptions else {
            return channel.setOption(ChannelOptions.recvAllocator, value: receiveBuffers)
                .flatMapThrowing { try configure(channel, logger: logger) }
                .flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
        }
        // On the channel's loop (NIO sets a connection up there): done at
        // once, with no futures and closures to allocate per connection.
        do {
            try options.setOption(ChannelOptions.recvAllocator, value: receiveBuffers)
            return channel.eventLoop.makeSucceededFuture(try configure(channel, logger: logger))
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// As `HTTP1Channel.setup`, less what the gate adds when it opens.
    private func configure(_ channel: any Channel, logger: Logger) throws -> RouterGate {
        let decoder = base.configuration.httpDecoder
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = decoder.maxHeaderFieldSize
        decoderLimits.maxHeaderListSize = decoder.maxHeaderListSize
        decoderLimits.maxHeaderFieldCount = decoder.maxHeaderFieldCount
        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        let settings = gateSettings.value.withLock { settings in
            if let settings { return settings }
            let made = RouterGate.Settings(logger: logger, shutdownGrace: shutdownGrace, start: startRouter)
            settings = made
            return made
        }
        let gate = RouterGate(channel: channel, settings: settings)
        try pipeline.addHandler(ConnectionDeadlineHandler(sweeper: sweeper))
        try pipeline.addHandlers(channelHandlers(gate))
        if !routerOnDemand { try gate.open() }
        return gate
    }

    /// Hummingbird's handling of a connection whose gate opened at setup;
    /// on demand, the gate starts it itself, in a task of its own, and this
    /// returns at once (a connection served on the event loop has no task).
    func handle(value gate: Value, logger: Logger) async {
        guard let asyncChannel = gate.takeOpened() else { return }
        await base.handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension LeanHTTP1Channel {
    /// The gates' shared settings, made once.
    final class SettingsCache: Sendable {
        let value = Mutex<RouterGate.Settings?>(nil)
    }
}

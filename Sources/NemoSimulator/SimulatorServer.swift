import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// How to start a simulator.
public struct SimulatorConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    public var seed: UInt64
    /// Simulated seconds per real second.
    public var timeScale: Double
    public var profile: BehaviourProfile
    /// When set, the admin API requires `Authorization: Bearer <adminToken>`
    /// and answers any client; otherwise loopback clients only.
    public var adminToken: String?
    /// Log level of the server's own logs (default: warnings and worse).
    public var logLevel: Logger.Level

    public init(
        host: String = "127.0.0.1", port: Int = 0, seed: UInt64 = 1, timeScale: Double = 1,
        profile: BehaviourProfile = BehaviourProfile(), adminToken: String? = nil, logLevel: Logger.Level = .warning
    ) {
        self.host = host
        self.port = port
        self.seed = seed
        self.timeScale = timeScale
        self.profile = profile
        self.adminToken = adminToken
        self.logLevel = logLevel
    }
}

/// Errors starting a simulator.
public enum SimulatorServerError: Error, CustomStringConvertible {
    case invalidConfiguration(String)
    case missingResource(String)
    case startFailed(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let text): return "invalid configuration: \(text)"
        case .missingResource(let text): return "missing resource: \(text)"
        case .startFailed(let text): return "could not start the simulator: \(text)"
        }
    }
}

/// A running simulator: the HTTP front on Hummingbird over a ``Simulation``.
///
/// In a test, one line: `let server = try await SimulatorServer.start()`,
/// then `server.url`, `server.simulation` (the admin handle) and
/// `await server.stop()`.
public final class SimulatorServer: Sendable {
    /// `http://HOST:PORT`.
    public let url: String
    public let port: Int
    /// The domain, for direct admin calls from Swift.
    public let simulation: Simulation
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(url: String, port: Int, simulation: Simulation, group: ServiceGroup, task: Task<Void, any Error>) {
        self.url = url
        self.port = port
        self.simulation = simulation
        self.group = group
        self.task = task
    }

    /// Starts a simulator and returns once it accepts connections.
    /// - Parameter handleSignals: stop gracefully on SIGINT/SIGTERM (for `nemosim serve`).
    public static func start(_ configuration: SimulatorConfiguration = .init(), handleSignals: Bool = false) async throws -> SimulatorServer {
        guard configuration.timeScale > 0, configuration.timeScale.isFinite else {
            throw SimulatorServerError.invalidConfiguration("time scale must be a positive number, got \(configuration.timeScale)")
        }
        guard (0...65535).contains(configuration.port) else {
            throw SimulatorServerError.invalidConfiguration("port must be 0-65535, got \(configuration.port)")
        }
        let problems = configuration.profile.validationErrors()
        guard problems.isEmpty else { throw SimulatorServerError.invalidConfiguration(problems.joined(separator: "; ")) }
        guard let resource = Bundle.module.url(forResource: "render", withExtension: "mp4"),
            let bytes = try? Data(contentsOf: resource)
        else {
            throw SimulatorServerError.missingResource("render.mp4 (the MP4 served for finished renders)")
        }

        let simulation = Simulation(
            seed: configuration.seed, clock: SimulationClock(timeScale: configuration.timeScale), profile: configuration.profile)
        let router = Router(context: SimulatorRequestContext.self)
        router.add(middleware: FrontMiddleware(simulation: simulation, adminToken: configuration.adminToken))
        APIRoutes(simulation: simulation, renderFile: ByteBuffer(bytes: bytes)).register(on: router)
        AdminRoutes(simulation: simulation).register(on: router)

        var logger = Logger(label: "nemosim")
        logger.logLevel = configuration.logLevel
        let bound = BoundPort()
        let app = Application(
            router: router,
            server: LeanHTTP1Channel.builder(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in bound.set(channel.localAddress?.port ?? -1) },
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let task = Task {
            do {
                try await group.run()
                bound.fail("the server stopped before it was ready")
            } catch {
                bound.fail("\(error)")
                throw error
            }
        }
        // Wait until the socket is bound (or the server failed to start).
        while true {
            switch bound.state {
            case .waiting:
                try await Task.sleep(for: .milliseconds(1))
            case .failed(let message):
                throw SimulatorServerError.startFailed(message)
            case .bound(let port):
                guard port > 0 else {
                    await group.triggerGracefulShutdown()
                    throw SimulatorServerError.startFailed("no local port")
                }
                let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
                let url = "http://\(host):\(port)"
                await simulation.setPublicBaseURL(url)
                return SimulatorServer(url: url, port: port, simulation: simulation, group: group, task: task)
            }
        }
    }

    /// Stops gracefully: open connections finish, then the server closes.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Waits until the server stops (after SIGINT/SIGTERM when started with
    /// `handleSignals`, or ``stop()``).
    public func wait() async throws {
        try await task.value
    }
}

/// The server's start-up state, set from Hummingbird's callback or the run task.
final class BoundPort: Sendable {
    enum State: Sendable {
        case waiting
        case bound(Int)
        case failed(String)
    }

    private let storage = Mutex<State>(.waiting)

    func set(_ port: Int) { storage.withLock { $0 = .bound(port) } }

    func fail(_ message: String) {
        storage.withLock { state in
            if case .waiting = state { state = .failed(message) }
        }
    }

    var state: State { storage.withLock { $0 } }
}

/// Hummingbird's HTTP/1 channel with a smaller receive buffer. NIO keeps
/// each connection's receive buffer for reuse (2 KiB by default, an idle
/// keep-alive connection included); starting at 512 bytes and adapting
/// from there saves about 1.5 KiB per open connection (measured with
/// heaptrack: 10,000 held event streams) and still grows to 64 KiB reads
/// for uploads.
struct LeanHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    static func builder() -> HTTPServerBuilder {
        HTTPServerBuilder { responder in LeanHTTP1Channel(base: HTTP1Channel(responder: responder)) }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.setOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

import Foundation
import Hummingbird
import Logging
import NemoHTTPServer

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
        case .startFailed(let text): return "could not start the simulator \(text)"
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
    private let server: RunningHTTPServer
    private let polledAnswers: PolledRouteHandler.Counter

    private init(simulation: Simulation, server: RunningHTTPServer, polledAnswers: PolledRouteHandler.Counter) {
        self.url = server.url
        self.port = server.port
        self.simulation = simulation
        self.server = server
        self.polledAnswers = polledAnswers
    }

    /// How many requests the event loop answered itself (``PolledRouteHandler``).
    var eventLoopAnswerCount: Int { polledAnswers.value }

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
        let counter = PolledRouteHandler.Counter()
        let router = Router(context: SimulatorRequestContext.self)
        router.add(middleware: FrontMiddleware(simulation: simulation, adminToken: configuration.adminToken))
        APIRoutes(simulation: simulation, renderFile: ByteBuffer(bytes: bytes)).register(on: router)
        AdminRoutes(simulation: simulation).register(on: router)

        var logger = Logger(label: "nemosim")
        logger.logLevel = configuration.logLevel
        let running: RunningHTTPServer
        do {
            running = try await HTTPServerStarter.start(
                router: router, host: configuration.host, port: configuration.port, handleSignals: handleSignals, logger: logger,
                channelHandlers: { [PolledRouteHandler(simulation: simulation, counter: counter)] })
        } catch let error as HTTPServerStartError {
            throw SimulatorServerError.startFailed(String(error.description.dropFirst("could not start the server ".count)))
        }
        await simulation.setPublicBaseURL(running.url)
        return SimulatorServer(simulation: simulation, server: running, polledAnswers: counter)
    }

    /// Stops gracefully: open connections finish, then the server closes.
    public func stop() async {
        await server.stop()
    }

    /// Waits until the server stops (after SIGINT/SIGTERM when started with
    /// `handleSignals`, or ``stop()``).
    public func wait() async throws {
        try await server.wait()
    }
}

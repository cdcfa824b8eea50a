import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NemoHTTPServer
import NemoResources

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
    /// Idle and request timeouts and the connection limit (real time).
    public var limits: ConnectionLimits
    /// The base of the URLs the simulator hands out (render outputUrl,
    /// upload cdn_url), e.g. `https://sim.example` behind a proxy. Nil: the
    /// address it is bound to; bound to every address (`0.0.0.0`, `::`), the
    /// `Host` the request came with, as clients outside reach it.
    public var publicURL: String?

    public init(
        host: String = "127.0.0.1", port: Int = 0, seed: UInt64 = 1, timeScale: Double = 1,
        profile: BehaviourProfile = BehaviourProfile(), adminToken: String? = nil, logLevel: Logger.Level = .warning,
        limits: ConnectionLimits = ConnectionLimits(), publicURL: String? = nil
    ) {
        self.publicURL = publicURL
        self.limits = limits
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

/// The simulator's HTTP front, built and not yet bound: the domain, the
/// router's responder (API routes from the ``Route`` table behind the
/// ``FrontMiddleware``, the admin API behind its guard) and the event loop's
/// handler for the polled GETs. ``SimulatorServer`` binds it to a port;
/// tests can send requests straight to ``responder`` with no socket.
public struct SimulatorApp: Sendable {
    public let simulation: Simulation
    let responder: RouterResponder<SimulatorRequestContext>
    let polledAnswers = PolledRouteHandler.Counter()
    let streamEvents = PolledRouteHandler.Counter()
    let codecAnswers = PolledRouteHandler.Counter()
    /// Whether event streams are served on the event loop (the default) or
    /// by the router's task (tests compare the two).
    var eventLoopStreams = true

    /// - Parameters:
    ///   - clock: simulated time (default: ``ScaledSimulationClock`` at the configuration's time scale).
    ///   - eventLoop: where the domain runs (a server passes one of its loops).
    public init(_ configuration: SimulatorConfiguration = .init(), clock: (any SimulationClock)? = nil, eventLoop: (any EventLoop)? = nil) throws {
        guard configuration.timeScale > 0, configuration.timeScale.isFinite else {
            throw SimulatorServerError.invalidConfiguration("time scale must be a positive number, got \(configuration.timeScale)")
        }
        let problems = configuration.profile.validationErrors()
        guard problems.isEmpty else { throw SimulatorServerError.invalidConfiguration(problems.joined(separator: "; ")) }
        guard let bytes = EmbeddedResources.data("Sources/NemoSimulator/Resources/render.mp4") else {
            throw SimulatorServerError.missingResource("render.mp4 (the MP4 served for finished renders)")
        }
        simulation = Simulation(
            seed: configuration.seed, clock: clock ?? ScaledSimulationClock(timeScale: configuration.timeScale), profile: configuration.profile,
            eventLoop: eventLoop)
        let router = Router(context: SimulatorRequestContext.self)
        router.add(middleware: FrontMiddleware(simulation: simulation))
        try APIRoutes(simulation: simulation, renderFile: ByteBuffer(bytes: bytes)).register(on: router)
        AdminRoutes(simulation: simulation).register(on: router, adminToken: configuration.adminToken)
        responder = router.buildResponder()
    }

    /// The channel handlers a server adds to each connection (the event
    /// loop's answers to the polled GETs and its streams; they need
    /// ``Simulation`` on a loop, and open the connection's `gate` to the
    /// router when a request needs it).
    func channelHandlers(gate: RouterGate) -> [any RemovableChannelHandler] {
        simulation.eventLoop == nil ? [] : [PolledRouteHandler(
                simulation: simulation, counter: polledAnswers, streamEvents: streamEvents, codecAnswers: codecAnswers, gate: gate,
                streams: eventLoopStreams)]
    }
}

/// A running simulator: a ``SimulatorApp`` on a port.
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
    private let streamEvents: PolledRouteHandler.Counter
    private let codecAnswers: PolledRouteHandler.Counter

    private init(app: SimulatorApp, server: RunningHTTPServer) {
        self.url = server.url
        self.port = server.port
        self.simulation = app.simulation
        self.server = server
        self.polledAnswers = app.polledAnswers
        self.streamEvents = app.streamEvents
        self.codecAnswers = app.codecAnswers
    }

    /// How many requests the event loop answered itself (``PolledRouteHandler``).
    var eventLoopAnswerCount: Int { polledAnswers.value }

    /// How many of those answers went through the HTTPTypes codec instead
    /// of past it (``HeadShortcut``): none, in the server's own pipeline.
    var eventLoopCodecAnswerCount: Int { codecAnswers.value }

    /// How many events the event loop's streams wrote.
    var eventLoopStreamEventCount: Int { streamEvents.value }

    /// Starts a simulator and returns once it accepts connections.
    /// - Parameter handleSignals: stop gracefully on SIGINT/SIGTERM (for `nemosim serve`).
    public static func start(_ configuration: SimulatorConfiguration = .init(), handleSignals: Bool = false) async throws -> SimulatorServer {
        try await start(configuration, handleSignals: handleSignals, clock: nil)
    }

    /// ``start(_:handleSignals:)`` with a clock of its own and, for tests,
    /// event streams served by the router's task instead of the event loop.
    static func start(
        _ configuration: SimulatorConfiguration, handleSignals: Bool = false, clock: (any SimulationClock)?, eventLoopStreams: Bool = true
    ) async throws -> SimulatorServer {
        guard (0...65535).contains(configuration.port) else {
            throw SimulatorServerError.invalidConfiguration("port must be 0-65535, got \(configuration.port)")
        }
        // The domain runs on one of the server's event loops (Hummingbird's
        // default group), so the polled GETs and the streams are served
        // there without a task.
        var app = try SimulatorApp(configuration, clock: clock, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        app.eventLoopStreams = eventLoopStreams
        var logger = Logger(label: "nemosim")
        logger.logLevel = configuration.logLevel
        let running: RunningHTTPServer
        do {
            running = try await HTTPServerStarter.start(
                responder: app.responder, host: configuration.host, port: configuration.port, handleSignals: handleSignals, logger: logger,
                limits: configuration.limits, routerOnDemand: true, channelHandlers: { [app] gate in app.channelHandlers(gate: gate) })
        } catch let error as HTTPServerStartError {
            throw SimulatorServerError.startFailed(String(error.description.dropFirst("could not start the server ".count)))
        }
        let everyAddress = ["0.0.0.0", "::", "[::]", ""].contains(configuration.host)
        await app.simulation.setPublicBaseURL(configuration.publicURL ?? running.url, fromHost: configuration.publicURL == nil && everyAddress)
        return SimulatorServer(app: app, server: running)
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

    /// The request journal's entries a query wants (as
    /// `GET /_nemosim/journal?...`), oldest first, secrets redacted.
    public func journal(_ query: JournalQuery = JournalQuery()) -> JournalPage {
        simulation.journal.page(query, clock: simulation.clock)
    }

    /// How many journal entries a query matches (as `GET /_nemosim/journal/count`).
    public func journalCount(_ query: JournalQuery = JournalQuery()) -> Int {
        simulation.journal.count(query).count
    }

    /// Forgets the journal's entries (as `DELETE /_nemosim/journal`).
    public func clearJournal() {
        simulation.journal.clear()
    }
}

/// The server's idle and request timeouts and connection limit (see
/// `NemoHTTPServer`), named here so that users of the simulator need not
/// import the HTTP module.
public typealias ConnectionLimits = NemoHTTPServer.ConnectionLimits

import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a server allows each connection, so that a few sockets (idle,
/// half-sent, trickling) cannot take it from everyone else. Times are real
/// seconds (not simulated): they guard the process, not the API.
public struct ConnectionLimits: Sendable, Hashable {
    /// A keep-alive connection with no request in progress is closed after
    /// this long (nginx's default is 75 s), or up to half the shorter of
    /// the two limits later (one timer per connection checks them).
    public var idleSeconds: Double
    /// A request's head (request line and headers) must be complete this
    /// long after its first byte (slowloris), and a request body may go
    /// this long without a byte while the server waits for one.
    public var requestSeconds: Double
    /// The most connections open at once; over it, a new connection is
    /// accepted and closed at once (never queued). `nil`: as many as the
    /// descriptor limit allows, less a reserve for files and upstream
    /// sockets (see ``effectiveMaximumConnections``).
    public var maximumConnections: Int?

    public init(idleSeconds: Double = 75, requestSeconds: Double = 30, maximumConnections: Int? = nil) {
        self.idleSeconds = idleSeconds
        self.requestSeconds = requestSeconds
        self.maximumConnections = maximumConnections
    }

    /// The accepted ranges, for options and their errors.
    public static let secondsRange: ClosedRange<Double> = 0.01...86_400
    public static let connectionsRange: ClosedRange<Int> = 1...1_000_000

    /// The problems with these limits (empty when they can be used).
    public func validationErrors() -> [String] {
        var problems: [String] = []
        if !(idleSeconds.isFinite && Self.secondsRange.contains(idleSeconds)) {
            problems.append("the idle timeout must be 0.01 to 86400 seconds, got \(idleSeconds)")
        }
        if !(requestSeconds.isFinite && Self.secondsRange.contains(requestSeconds)) {
            problems.append("the request timeout must be 0.01 to 86400 seconds, got \(requestSeconds)")
        }
        if let maximumConnections, !Self.connectionsRange.contains(maximumConnections) {
            problems.append("the connection limit must be 1 to 1000000, got \(maximumConnections)")
        }
        return problems
    }

    /// The connection limit in force: the one asked for, but never more
    /// than the descriptor limit (raised to its hard limit at start) less
    /// a reserve of 64 plus 5 %, so that the process never runs out of
    /// descriptors through sockets (NIO spins on an accept that fails with
    /// EMFILE).
    public var effectiveMaximumConnections: Int {
        let descriptors = DescriptorLimit.raised
        let ceiling = max(1, descriptors - 64 - descriptors / 20)
        return min(maximumConnections ?? ceiling, ceiling)
    }
}

/// The process's descriptor limit.
enum DescriptorLimit {
    /// The soft limit, raised to the hard one the first time it is read
    /// (as Go's runtime does): a server that refuses connections itself
    /// needs no artificially low ceiling.
    static let raised: Int = {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
        #else
        return 1024
        #endif
    }()
}

/// Counts open connections against a limit (any event loop).
final class ConnectionBudget: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a place; false when `limit` connections are open.
    func acquire() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }
}

/// Told before each chunk of raw bytes by ``ByteArrivalHandler``.
struct BytesArrived: Sendable {}

/// The first handler of a connection (before NIO's HTTP parser): one user
/// event per socket read, so ``ConnectionDeadlineHandler`` (after the
/// parser, which emits nothing until a head is complete) knows that bytes
/// came.
final class ByteArrivalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(BytesArrived())
        context.fireChannelRead(data)
    }
}

/// Closes a connection that is idle between requests for
/// ``ConnectionLimits/idleSeconds``, whose request head is not complete
/// ``ConnectionLimits/requestSeconds`` after its first byte (slowloris), or
/// whose request body gets no byte for that long while the server waits
/// for one. Never closes a connection whose request was read and whose
/// response is being written (event streams, downloads), and does not
/// blame the client when the server itself stops reading (back-pressure).
/// First of the extra handlers, so it sees the requests and answers of the
/// event loop's own handlers too.
///
/// Cheap per request: a state change only bumps a counter; one timer per
/// connection looks every ``checkInterval`` (a quarter of the shorter
/// limit) at whether anything happened since it last looked, so a
/// connection is closed between its limit and its limit plus two intervals
/// after its last activity, and a request costs no timer and no clock read.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase { case idle, head, body, responding }
    private var phase = Phase.idle
    /// Requests whose head was read and whose response has not ended.
    private var responsesOwed = 0
    /// The server asked for bytes and none came since.
    private var waitingForClient = true
    /// The limit of the current phase (`nil` while a response is being
    /// written: no limit then).
    private var limit: TimeAmount?
    /// Bumped by every state change; the check timer notes when it last
    /// saw it change (so a request reads no clock).
    private var activity: UInt64 = 0
    private var seenActivity: UInt64 = .max
    private var quietSince = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private let idle: TimeAmount
    private let request: TimeAmount
    private let checkInterval: TimeAmount

    init(_ limits: ConnectionLimits) {
        idle = .nanoseconds(Int64(limits.idleSeconds * 1e9))
        request = .nanoseconds(Int64(limits.requestSeconds * 1e9))
        checkInterval = .nanoseconds(max(min(idle, request).nanoseconds / 4, 1_000_000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, idle) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, idle)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is BytesArrived else { return context.fireUserInboundEventTriggered(event) }
        waitingForClient = false
        switch phase {
        case .idle:
            phase = .head  // a request started: its head has `request` in all
            arm(context, request)
        case .body:
            arm(context, request)  // progress on the body
        case .head, .responding:
            break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            responsesOwed += 1
            phase = .body
            arm(context, request)
        case .body:
            break
        case .end:
            if responsesOwed == 0 {
                phase = .idle  // answered before its body ended
                arm(context, idle)
            } else {
                phase = .responding  // the response takes what it takes
                limit = nil
                activity &+= 1
            }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        waitingForClient = true
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responsesOwed = max(0, responsesOwed - 1)
            if responsesOwed == 0, phase == .responding {
                phase = .idle
                arm(context, idle)
            }
        }
        context.write(data, promise: promise)
    }

    /// Starts the phase's limit (`delay`); starts the check timer if none runs.
    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        limit = delay
        activity &+= 1
        if timer == nil { scheduleCheck(context) }
    }

    private func scheduleCheck(_ context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: checkInterval) { [self] in
            timer = nil
            let now = NIODeadline.now()
            if activity != seenActivity {
                seenActivity = activity
                quietSince = now
            }
            guard let limit else { return }  // responding: the next arm starts the timer again
            guard now - quietSince >= limit else { return scheduleCheck(context) }
            switch phase {
            case .idle, .head:
                context.close(promise: nil)
            case .body where waitingForClient:
                context.close(promise: nil)
            case .body:
                arm(context, request)  // the server is not reading: not the client's fault
            case .responding:
                break
            }
        }
    }
}

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
    /// the two limits later (one sweep per event loop checks them).
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

    /// Connections open now.
    var openConnections: Int { open.load(ordering: .relaxed) }
}

/// Closes a connection that is idle between requests for
/// ``ConnectionLimits/idleSeconds``, whose request head is not complete
/// ``ConnectionLimits/requestSeconds`` after its first byte (slowloris), or
/// whose request body gets no byte for that long while the server waits
/// for one. Never closes a connection whose request was read and whose
/// response is being written (event streams, downloads), and does not
/// blame the client when the server itself stops reading (back-pressure).
/// First of the extra handlers, so it sees the requests and answers of the
/// event loop's own handlers too; it learns that raw bytes came from
/// `channelReadComplete`, which NIO fires after every socket read and the
/// HTTP parser passes on even when the bytes made no complete part.
///
/// Cheap per connection and per request: a state change only bumps a
/// counter, and no connection has a timer of its own: one
/// ``DeadlineSweeper`` timer per event loop looks every ``DeadlineSweeper/interval``
/// (a quarter of the shorter limit) at whether anything happened on each
/// connection since it last looked, so a connection is closed between its
/// limit and its limit plus two intervals after its last activity.
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
    /// A request part came in the current socket read (so the read's
    /// bytes are accounted for by the parts).
    private var partsThisRead = false
    /// The limit of the current phase (`nil` while a response is being
    /// written: no limit then).
    private var limit: TimeAmount?
    /// Bumped by every state change; the sweeper notes when it last saw it
    /// change (so a request reads no clock).
    private var activity: UInt64 = 0
    private var seenActivity: UInt64 = .max
    private var quietSince = NIODeadline.now()
    /// The limits, kept once by the sweeper (not per connection).
    private var idle: TimeAmount { sweeper.idle }
    private var request: TimeAmount { sweeper.request }
    private let sweeper: DeadlineSweeper
    /// Set while the connection is in its loop's sweep.
    private var context: ChannelHandlerContext?
    private var sweep: DeadlineSweeper.LoopSweep?
    /// This handler's place in `sweep.members` (for an O(1) removal).
    fileprivate var sweepIndex = -1

    init(sweeper: DeadlineSweeper) {
        self.sweeper = sweeper
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { join(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        join(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        leave()
    }

    private func join(_ context: ChannelHandlerContext) {
        guard self.context == nil else { return }
        self.context = context
        let sweep = sweeper.sweep(for: context.eventLoop)
        self.sweep = sweep
        arm(idle)
        sweep.add(self)
    }

    private func leave() {
        sweep?.remove(self)
        sweep = nil
        context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partsThisRead = true
        waitingForClient = false
        switch unwrapInboundIn(data) {
        case .head:
            responsesOwed += 1
            phase = .body
            arm(request)
        case .body:
            if phase == .body { arm(request) }  // progress on the body
        case .end:
            if responsesOwed == 0 {
                phase = .idle  // answered before its body ended
                arm(idle)
            } else {
                phase = .responding  // the response takes what it takes
                limit = nil
                activity &+= 1
            }
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Bytes came. When they made no part, they are a request head in
        // the making (its limit starts at its first byte) or a body's bytes
        // the parser holds back.
        if !partsThisRead {
            waitingForClient = false
            switch phase {
            case .idle:
                phase = .head
                arm(request)
            case .body:
                arm(request)
            case .head, .responding:
                break
            }
        }
        partsThisRead = false
        context.fireChannelReadComplete()
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
                arm(idle)
            }
        }
        context.write(data, promise: promise)
    }

    /// Starts the phase's limit.
    private func arm(_ delay: TimeAmount) {
        limit = delay
        activity &+= 1
    }

    /// Called by the sweep: whether the connection went quiet for longer
    /// than its phase allows.
    fileprivate func isOverdue(_ now: NIODeadline) -> Bool {
        if activity != seenActivity {
            seenActivity = activity
            quietSince = now
        }
        guard let limit else { return false }  // responding
        return now - quietSince >= limit
    }

    /// Called by the sweep for an overdue connection.
    fileprivate func expire() {
        switch phase {
        case .idle, .head:
            context?.close(promise: nil)
        case .body where waitingForClient:
            context?.close(promise: nil)
        case .body:
            arm(request)  // the server is not reading: not the client's fault
        case .responding:
            break
        }
    }
}

/// The deadline checks of one server's connections: one timer per event
/// loop, running while the loop has connections, that walks them every
/// ``interval``. A connection costs a place in an array, not a timer (a
/// scheduled task, its promise and closures: about 0.5 KiB each).
final class DeadlineSweeper: Sendable {
    let interval: TimeAmount
    /// ``ConnectionLimits/idleSeconds`` and ``ConnectionLimits/requestSeconds``.
    let idle: TimeAmount
    let request: TimeAmount
    private let sweeps = Mutex<[ObjectIdentifier: NIOLoopBound<LoopSweep>]>([:])

    init(_ limits: ConnectionLimits) {
        idle = .nanoseconds(Int64(limits.idleSeconds * 1e9))
        request = .nanoseconds(Int64(limits.requestSeconds * 1e9))
        let shorter = min(limits.idleSeconds, limits.requestSeconds)
        interval = .nanoseconds(max(Int64(shorter * 1e9) / 4, 1_000_000))
    }

    /// The sweep of `loop` (made on first use; on the loop).
    func sweep(for loop: any EventLoop) -> LoopSweep {
        let interval = interval
        return sweeps.withLock { sweeps in
            let key = ObjectIdentifier(loop)
            if let existing = sweeps[key] { return existing }
            let made = NIOLoopBound(LoopSweep(loop: loop, interval: interval), eventLoop: loop)
            sweeps[key] = made
            return made
        }.value
    }

    /// The connections of one event loop; used on that loop only.
    final class LoopSweep {
        private let loop: any EventLoop
        private let interval: TimeAmount
        private var members: [ConnectionDeadlineHandler] = []
        private var running = false

        init(loop: any EventLoop, interval: TimeAmount) {
            self.loop = loop
            self.interval = interval
        }

        fileprivate func add(_ handler: ConnectionDeadlineHandler) {
            handler.sweepIndex = members.count
            members.append(handler)
            if !running {
                running = true
                schedule()
            }
        }

        fileprivate func remove(_ handler: ConnectionDeadlineHandler) {
            let index = handler.sweepIndex
            guard members.indices.contains(index), members[index] === handler else { return }
            let last = members.removeLast()
            if last !== handler {
                members[index] = last
                last.sweepIndex = index
            }
            handler.sweepIndex = -1
        }

        private func schedule() {
            loop.assumeIsolated().scheduleTask(in: interval) { [self] in tick() }
        }

        private func tick() {
            guard !members.isEmpty else {
                running = false  // the next connection starts it again
                return
            }
            let now = NIODeadline.now()
            // Closing removes members; decide first, then close.
            var overdue: [ConnectionDeadlineHandler] = []
            for member in members where member.isOverdue(now) { overdue.append(member) }
            for member in overdue { member.expire() }
            schedule()
        }
    }
}

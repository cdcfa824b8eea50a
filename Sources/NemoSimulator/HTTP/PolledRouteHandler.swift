import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes
import NIOPosix
import NemoCore
import NemoHTTPServer
import Synchronization

/// Answers the polled GETs (``Route/polled``) and serves the event streams
/// (`POST /run_sse`) on the event loop, in Hummingbird's own channel
/// pipeline (after NIO's HTTP parser), without a Swift task per request or
/// per stream: the domain actor runs on an event loop, so on that loop the
/// answer is a direct call, and from the server's other loop one hop there
/// and back. A stream is an ``EventLoopStream`` walked by timers.
///
/// Measured on 2 cores (`scripts/bench/simulator --only wrk`): the credits
/// endpoint went from about 46,000 to 62,000-64,500 requests/s. The answers
/// are the router's own (``Simulation/answer(_:token:)``, the same headers,
/// the same journal entry, the same stream bytes); anything else goes on
/// to Hummingbird, opening the connection's ``RouterGate`` first (so a
/// connection that never needs the router never has its task and async
/// channel): other routes, a GET with a fault armed for its path or named
/// in `X-Nemosim-Fault` (a stream takes its fault here), a request with a
/// body (but a stream's, up to ``maximumStreamBody``), a path in any but
/// its plain form, and any request that arrives while an earlier one on
/// the connection is still being answered by the router (so that answers
/// keep their order).
final class PolledRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// How many requests the event loop answered (tests assert which path
    /// answered; one relaxed atomic add per answer).
    final class Counter: Sendable {
        private let count = Atomic<Int>(0)
        var value: Int { count.load(ordering: .relaxed) }
        func increment() { count.add(1, ordering: .relaxed) }
    }

    struct Held: HeldRequest {
        let route: Route
        let parameters: [String: String]
        let token: String?
        /// `Connection: close`: Hummingbird ends the connection after it.
        let closes: Bool
        let plan: FrontMiddleware.Plan
        /// An event stream's request.
        var stream: StreamRequest?
        var asynchronous: Bool { stream != nil }
    }

    struct StreamRequest {
        let lastEventID: String?
    }

    /// The largest event-stream request body read here; a larger one (or
    /// one sent in chunks) is the router's to read and refuse.
    static let maximumStreamBody = 1 << 20

    /// The client's address (for the journal), read once.
    private var remote: SocketAddress?

    private let simulation: Simulation
    private let counter: Counter
    /// Events the event loop's streams wrote (tests watch a stream's progress).
    private let streamEvents: Counter
    /// Answers written through the HTTPTypes codec for want of a
    /// ``shortcut`` (a pipeline without the codec: tests check the server's
    /// own never does this).
    private let codecAnswers: Counter
    private var machine = PolledRouteStateMachine<Held>()
    /// Opened before the first request goes on to the router (nil: always open).
    private let gate: RouterGate?
    /// Whether streams are served here (tests compare both paths).
    private let streams: Bool
    /// The held stream request's body so far.
    private var body: ByteBuffer?
    /// The stream being served.
    private var stream: EventLoopStream?
    /// The server is stopping, or the client half-closed: close once nothing
    /// is being answered.
    private var closeWhenQuiet = false
    /// A read asked for while an answer was being made (held back: what a
    /// client sends behind a stream waits in its socket, not here).
    private var readPending = false
    /// Writes answers past the HTTPTypes codec (nil without one: tests on
    /// a bare pipeline).
    private var shortcut: HeadShortcut?

    init(
        simulation: Simulation, counter: Counter, streamEvents: Counter = Counter(), codecAnswers: Counter = Counter(), gate: RouterGate? = nil,
        streams: Bool = true
    ) {
        self.streamEvents = streamEvents
        self.codecAnswers = codecAnswers
        self.simulation = simulation
        self.counter = counter
        self.gate = gate
        self.streams = streams
    }

    /// Whether the domain runs on this connection's event loop.
    private func local(_ context: ChannelHandlerContext) -> Bool {
        simulation.eventLoop === context.eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        shortcut = HeadShortcut(context.pipeline.syncOperations)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        shortcut = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if remote == nil { remote = context.channel.remoteAddress }
        run(machine.inbound(.part(unwrapInboundIn(data)), local: local(context), hold: hold), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        run(machine.readComplete(), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        run(machine.inbound(.error(error), local: local(context), hold: hold), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let gate, !gate.isOpen, let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
            // The client sent all it will (a half-close): as Hummingbird does,
            // the connection ends once what it asked is answered.
            closeWhenQuiet = true
            closeIfQuiet(context)
            return
        }
        if event is ChannelShouldQuiesceEvent, let gate {
            // The server is stopping. A connection with no task of its own
            // (see `RouterGate`) is closed here: now when nothing is being
            // answered, otherwise once its grace is over (a stream, an upload).
            closeWhenQuiet = true
            closeIfQuiet(context)
            if context.channel.isActive {
                let channel = context.channel
                context.eventLoop.scheduleTask(in: gate.shutdownGrace) { channel.close(promise: nil) }
            }
            // Hummingbird's handlers, when here, close it after the answer in progress.
            guard gate.isOpen else { return }
        }
        run(machine.inbound(.event(event), local: local(context), hold: hold), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stream?.clientLeft()
        run(machine.inbound(.inactive, local: local(context), hold: hold), context: context)
    }

    /// When the server is stopping (or the client half-closed) and nothing
    /// is being received or answered here.
    private func closeIfQuiet(_ context: ChannelHandlerContext) {
        if closeWhenQuiet, stream == nil, !machine.answering, !machine.holding, gate?.isOpen != true { context.close(promise: nil) }
    }

    /// No reading while an answer is being made (a stream lasts minutes):
    /// what comes meanwhile would wait in memory, unbounded.
    func read(context: ChannelHandlerContext) {
        guard machine.answering else { return context.read() }
        readPending = true
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { stream?.writable() }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { machine.routerResponseEnded() }
        context.write(data, promise: promise)
    }

    /// Lets Hummingbird's handlers into the pipeline (before a request goes
    /// on to the router); false when that failed and the connection closes.
    private func openGate(_ context: ChannelHandlerContext) -> Bool {
        guard let gate, !gate.isOpen else { return true }
        do {
            try gate.open()
            return true
        } catch {
            context.close(promise: nil)
            return false
        }
    }

    /// Carries out the state machine's actions, in order.
    private func run(_ actions: PolledRouteStateMachine<Held>.Actions, context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .forward(.part(let part)):
                if case .head = part, !openGate(context) { return }
                context.fireChannelRead(wrapInboundOut(part))
            case .forward(.error(let error)):
                // Hummingbird answers a request it cannot parse with a 400 and closes.
                if context.channel.isActive, !openGate(context) { return }
                context.fireErrorCaught(error)
            case .forward(.event(let event)): context.fireUserInboundEventTriggered(event)
            case .forward(.inactive): context.fireChannelInactive()
            case .forwardReadComplete: context.fireChannelReadComplete()
            case .abandon(let held):
                body = nil
                _ = held.plan.failure(SimulatorFailure.badRequest("request body unreadable: the connection ended before the request did"))
            case .answerNow(let held):
                write(answer(held), for: held, context: context)
                closeIfQuiet(context)
            case .answerLater(let held):
                if held.stream != nil {
                    startStream(held, context: context)
                } else {
                    answerElsewhere(held, context: context)
                }
            case .collect(let part):
                if body == nil {
                    body = part
                } else {
                    var part = part
                    body!.writeBuffer(&part)
                }
            }
        }
    }

    /// Makes the answer on the domain's loop, then writes it here and
    /// replays what came in meanwhile.
    private func answerElsewhere(_ held: Held, context: ChannelHandlerContext) {
        guard let domainLoop = simulation.eventLoop else { return }
        let simulation = simulation
        let home = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: home)
        domainLoop.execute {
            let answer = Self.answer(held, simulation: simulation)
            home.execute {
                let (handler, context) = bound.value
                handler.write(answer, for: held, context: context)
                handler.run(handler.machine.answerWritten(local: handler.local(context), hold: handler.hold), context: context)
                handler.resumeReading(context)
                handler.closeIfQuiet(context)
            }
        }
    }

    private func answer(_ held: Held) -> JSONAnswer { Self.answer(held, simulation: simulation) }

    /// The domain's answer (on the domain's loop), with the request's
    /// journal note in scope.
    private static func answer(_ held: Held, simulation: Simulation) -> JSONAnswer {
        simulation.answerOnLoop(
            held.route, parameters: held.parameters, token: held.token, missingAttribution: held.plan.missingAttribution, note: held.plan.note)
    }

    /// An event stream's request, when it is served here: a body of a
    /// stated length up to ``maximumStreamBody`` (one `Content-Length`, no
    /// `Transfer-Encoding`), `Authorization` and `Connection` once each, and
    /// a fault header that parses. Its fault (the header's, or an armed one)
    /// is taken now, as the front middleware takes it when a request's head
    /// arrives.
    private func holdStream(_ head: HTTPRequest) -> Held? {
        guard streams, let path = head.path else { return nil }
        let scan = HeaderScan(head.headerFields)
        let lengths = head.headerFields[values: .contentLength]
        guard !scan.repeatsFields, head.headerFields[.transferEncoding] == nil, lengths.count <= 1,
            (lengths.first.flatMap { Int($0) } ?? 0) <= Self.maximumStreamBody
        else { return nil }
        var fault: FaultResponse?
        if let header = scan.fault {
            // One that does not parse gets the middleware's 400.
            guard let parsed = try? JSONDecoder().decode(FaultResponse.self, from: Data(header.utf8)) else { return nil }
            fault = parsed
        } else {
            fault = simulation.faults.take(method: "POST", path: path)
        }
        let plan = FrontMiddleware.Plan(
            simulation: simulation, fault: fault, route: .runSSE, arrival: simulation.clock.elapsed, method: "POST", path: path,
            headers: head.headerFields, authority: head.authority, remote: remote, missingAttribution: scan.missingAttribution)
        return Held(
            route: .runSSE, parameters: [:], token: scan.token, closes: scan.closes, plan: plan,
            stream: StreamRequest(lastEventID: head.headerFields[EventStreamResponder.lastEventID]))
    }

    /// Starts a held stream: its fault first (an error answer, a cut, a
    /// delay), then the operation on the domain's loop, then either the
    /// error answer or the stream.
    private func startStream(_ held: Held, context: ChannelHandlerContext) {
        let buffer = body ?? context.channel.allocator.buffer(capacity: 0)
        body = nil
        let plan = held.plan
        if let failure = plan.fault?.failure {
            finishAnswer(failure.answer(envelope: held.route.envelope, mode: simulation.profile.errorStatusMode), for: held, context: context)
            return
        }
        if plan.fault?.disconnects == true {
            plan.note.streamEnded(.fault)
            plan.journal(status: 0, code: nil)
            context.close(promise: nil)
            return
        }
        let home = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: home)
        let simulation = simulation
        let begin = {
            Self.onDomain(simulation, home: home) { simulation in
                simulation.polledNote = plan.note
                defer { simulation.polledNote = nil }
                plan.note.body(buffer)
                do throws(SimulatorFailure) {
                    let request = try Request.decodeJSON(RunSSERequest.self, from: buffer, example: EventStreamResponder.example)
                    return .success(try simulation.startMessage(
                        token: held.token, missingAttribution: plan.missingAttribution, request: request, lastEventID: held.stream?.lastEventID))
                } catch {
                    return .failure(error)
                }
            } then: { (outcome: Result<StreamPlan, SimulatorFailure>) in
                let (handler, context) = bound.value
                guard context.channel.isActive else {
                    // The client left before the answer: journaled as it would have been sent.
                    switch outcome {
                    case .failure(let failure): _ = plan.failure(failure)
                    case .success:
                        plan.note.streamEnded(.client)
                        plan.journal(status: 200, code: nil)
                    }
                    return
                }
                switch outcome {
                case .failure(let failure):
                    handler.finishAnswer(
                        failure.answer(envelope: held.route.envelope, mode: simulation.profile.errorStatusMode), for: held, context: context)
                case .success(let streamPlan):
                    let stream = EventLoopStream(
                        plan: streamPlan, fault: plan.fault, simulation: simulation, journal: plan, context: context, owner: handler, closes: held.closes,
                        sent: handler.streamEvents)
                    handler.stream = stream
                    handler.counter.increment()
                    stream.start()
                }
            }
        }
        if let delay = plan.fault?.delaySeconds {
            EventLoopStream.after(elapsed: simulation.clock.elapsed + delay, clock: simulation.clock, on: home, begin)
        } else {
            begin()
        }
    }

    /// Runs `work` on the domain's loop (at once when it is `home`), then
    /// `then` with its result on `home`.
    private static func onDomain<T: Sendable>(
        _ simulation: Simulation, home: any EventLoop, _ work: @escaping (isolated Simulation) -> T, then: @escaping (T) -> Void
    ) {
        guard let domainLoop = simulation.eventLoop, domainLoop !== home else {
            then(simulation.assumeIsolated(work))
            return
        }
        let hop = UncheckedBox((work, then))
        domainLoop.execute {
            let value = UncheckedBox(simulation.assumeIsolated(hop.value.0))
            home.execute { hop.value.1(value.value) }
        }
    }

    /// An answer written in place of a held stream (an error), then what
    /// waited meanwhile.
    private func finishAnswer(_ answer: JSONAnswer, for held: Held, context: ChannelHandlerContext) {
        write(answer, for: held, context: context)
        answered(context)
    }

    /// The stream is over (its end written, or the connection `closed`):
    /// `Connection: close` ends the connection as Hummingbird would;
    /// otherwise what waited meanwhile goes on.
    func streamEnded(closed: Bool, closes: Bool, context: ChannelHandlerContext) {
        stream = nil
        guard !closed else { return }
        if closes { context.close(mode: .output, promise: nil) }
        answered(context)
    }

    private func answered(_ context: ChannelHandlerContext) {
        run(machine.answerWritten(local: local(context), hold: hold), context: context)
        resumeReading(context)
        closeIfQuiet(context)
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        guard readPending, !machine.answering else { return }
        readPending = false
        context.read()
    }

    /// The polled routes whose template has no parameter, by path.
    static let literalPolledRoutes: [String: Route] = Dictionary(
        uniqueKeysWithValues: Route.all.filter { $0.polled && $0.method == "GET" && !$0.template.contains(":") && !$0.template.contains("{") }.map {
            ($0.template, $0)
        })

    /// The request, when this handler answers it (see the type's notes).
    private func hold(_ head: HTTPRequest) -> Held? {
        // Without macOS 15's `checkIsolated`, `assumeIsolated` outside a task traps.
        guard #available(macOS 15, iOS 18, tvOS 18, watchOS 11, *), simulation.eventLoop != nil else { return nil }
        if head.method == .post, head.path == Route.runSSE.template { return holdStream(head) }
        guard head.method == .get, let path = head.path, let (route, parameters) = Self.polledRoute(path) else { return nil }
        // A fault named in the request is the front middleware's to apply.
        let scan = HeaderScan(head.headerFields)
        guard scan.fault == nil, !scan.hasBody, !scan.repeatsFields, !simulation.faults.matches(method: "GET", path: path) else { return nil }
        let plan = FrontMiddleware.Plan(
            simulation: simulation, fault: nil, route: route, arrival: simulation.clock.elapsed, method: "GET", path: path,
            headers: head.headerFields, authority: head.authority, remote: remote, missingAttribution: scan.missingAttribution)
        // The session a path names, even when the call fails before the domain looks at it.
        if let session = parameters["session_id"] { plan.note.session(session) }
        return Held(route: route, parameters: parameters, token: scan.token, closes: scan.closes, plan: plan)
    }

    /// The polled route of a GET's path, when the path is in its plain form
    /// and the table resolves it to one route only (a path two routes could
    /// take, like `/api/render/proxy/lambda/download`, is the router's).
    static func polledRoute(_ path: String) -> (route: Route, parameters: [String: String])? {
        // A polled route without parameters (credits) is its template: no
        // splitting, no dictionary.
        if let literal = literalPolledRoutes[path] { return (literal, [:]) }
        guard let resolved = Route.resolve(method: "GET", path: path), resolved.route.polled else { return nil }
        return resolved
    }

    /// Writes an answer as Hummingbird would (the same headers, in the same
    /// order) and journals it as the front middleware would.
    private func write(_ answer: JSONAnswer, for held: Held, context: ChannelHandlerContext) {
        let date = HTTPDate.now()
        if let shortcut {
            shortcut.write(answer, date: date)
        } else {
            codecAnswers.increment()
            context.write(wrapOutboundOut(.head(answer.head(date: date))), promise: nil)
            context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        }
        counter.increment()
        held.plan.journal(status: Int(answer.status.code), code: answer.code)
        // Hummingbird ends the connection after a request that asks it to:
        // it closes its output and waits for the client to close (a full
        // close with unread input would reset the connection instead).
        if held.closes {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(mode: .output, promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// The `Date` header: `Sat, 28 Nov 2026 06:34:07 GMT`.
enum HTTPDate {
    /// The last value made on this thread (an event loop's: every
    /// connection on the loop shares it, rather than keep a copy each).
    private final class Latest: @unchecked Sendable {
        var second = -1
        var text = ""
    }

    private static let latest = ThreadSpecificVariable<Latest>()

    /// The `Date` header's value now, made once a second per thread.
    static func now() -> String {
        let second = time(nil)
        let cached: Latest
        if let current = latest.currentValue {
            cached = current
        } else {
            cached = Latest()
            latest.currentValue = cached
        }
        if cached.second != second {
            cached.second = second
            cached.text = format(second)
        }
        return cached.text
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ second: Int) -> String {
        var moment = second
        var parts = tm()
        gmtime_r(&moment, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

extension Simulation {
    /// ``answer(_:parameters:token:missingAttribution:note:)`` from code
    /// running on the simulation's event loop (its executor): what
    /// `assumeIsolated` does, checked against the loop instead, and without
    /// the two closure contexts the standard library's unspecialised
    /// `assumeIsolated` allocates on every call (2 of a credits answer's
    /// 32.8 allocations; `scripts/bench/profile allocations`).
    /// The call goes through a closure that captures nothing, cast to the
    /// same function without its `isolated` mark, as `assumeIsolated` does.
    nonisolated func answerOnLoop(
        _ route: Route, parameters: [String: String], token: String?, missingAttribution: [String], note: JournalNote?
    ) -> JSONAnswer {
        guard let eventLoop else { preconditionFailure("the simulation runs on no event loop") }
        eventLoop.preconditionInEventLoop()
        typealias Isolated = (isolated Simulation, Route, [String: String], String?, [String], JournalNote?) -> JSONAnswer
        typealias Unmarked = (Simulation, Route, [String: String], String?, [String], JournalNote?) -> JSONAnswer
        let answer: Isolated = { simulation, route, parameters, token, missingAttribution, note in
            simulation.answer(route, parameters: parameters, token: token, missingAttribution: missingAttribution, note: note)
        }
        return unsafeBitCast(answer, to: Unmarked.self)(self, route, parameters, token, missingAttribution, note)
    }
}

/// A value handed from one event loop to another where the compiler cannot
/// see that only one of them uses it at a time.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

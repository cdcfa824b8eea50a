import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import NemoCore
import NemoHTTPServer
import Synchronization

/// Answers the polled GETs (``Route/polled``) on the event loop, in
/// Hummingbird's own channel pipeline (its `additionalChannelHandlers`,
/// after NIO's HTTP parser), without a Swift task per request: the domain
/// actor runs on an event loop, so on that loop the answer is a direct call,
/// and from the server's other loop one hop there and back.
///
/// Measured on 2 cores (`scripts/bench/simulator --only wrk`): the credits
/// endpoint went from about 46,000 to 62,000-64,500 requests/s. The answers
/// are the router's own (``Simulation/answer(_:token:)``, the same headers,
/// the same journal entry); anything else goes on to Hummingbird untouched:
/// other routes, a fault armed for the path or named in `X-Nemosim-Fault`,
/// a request with a body, a path in any but its plain form, and any request
/// that arrives while an earlier one on the connection is still being
/// answered (so that answers keep their order).
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
    }

    /// The `Date` header of this connection's answers, made once a second.
    private var date = (second: -1, text: "")
    /// The client's address (for the journal), read once.
    private var remote: SocketAddress?

    private let simulation: Simulation
    private let counter: Counter
    private var machine = PolledRouteStateMachine<Held>()

    init(simulation: Simulation, counter: Counter) {
        self.simulation = simulation
        self.counter = counter
    }

    /// Whether the domain runs on this connection's event loop.
    private func local(_ context: ChannelHandlerContext) -> Bool {
        simulation.eventLoop === context.eventLoop
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
        run(machine.inbound(.event(event), local: local(context), hold: hold), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.inbound(.inactive, local: local(context), hold: hold), context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { machine.routerResponseEnded() }
        context.write(data, promise: promise)
    }

    /// Carries out the state machine's actions, in order.
    private func run(_ actions: PolledRouteStateMachine<Held>.Actions, context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .forward(.part(let part)): context.fireChannelRead(wrapInboundOut(part))
            case .forward(.error(let error)): context.fireErrorCaught(error)
            case .forward(.event(let event)): context.fireUserInboundEventTriggered(event)
            case .forward(.inactive): context.fireChannelInactive()
            case .forwardReadComplete: context.fireChannelReadComplete()
            case .leavePipeline: context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .answerNow(let held):
                write(answer(held), for: held, context: context)
            case .answerLater(let held):
                answerElsewhere(held, context: context)
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
            }
        }
    }

    private func answer(_ held: Held) -> JSONAnswer { Self.answer(held, simulation: simulation) }

    /// The domain's answer (on the domain's loop), with the request's
    /// journal note in scope.
    private static func answer(_ held: Held, simulation: Simulation) -> JSONAnswer {
        simulation.assumeIsolated {
            $0.answer(held.route, parameters: held.parameters, token: held.token, missingAttribution: held.plan.missingAttribution, note: held.plan.note)
        }
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
        let second = time(nil)
        if date.second != second { date = (second, HTTPDate.format(second)) }
        let headers: HTTPFields = [.contentType: JSONAnswer.contentType, .contentLength: String(answer.body.readableBytes), .date: date.text]
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
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

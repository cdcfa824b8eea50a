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

    private struct Held {
        let route: Route
        let parameters: [String: String]
        let token: String?
        /// `Connection: close`: Hummingbird ends the connection after it.
        let closes: Bool
        let plan: FrontMiddleware.Plan
    }

    /// The `Date` header of this connection's answers, made once a second.
    private var date = (second: -1, text: "")

    private let simulation: Simulation
    private let counter: Counter
    /// Requests passed on to Hummingbird whose response has not ended yet.
    private var routerResponsesPending = 0
    /// A request this handler answers, from its head to its end.
    private var held: Held?
    /// While an answer is made on the domain's loop, everything that comes
    /// in (requests, a parse error, the client's half-close, the end) waits
    /// here, so that Hummingbird sees it all in order after the answer.
    private var answering = false
    /// (An array: empty, it allocates nothing, and every open connection
    /// has one of these handlers until it carries an event stream.)
    private var waiting: [Inbound] = []

    private enum Inbound {
        case part(HTTPRequestPart)
        case error(any Error)
        case event(Any)
        case inactive
    }
    /// After an answer to `Connection: close`: what follows is ignored, as
    /// Hummingbird ignores it.
    private var closing = false
    /// After passing on a `Connection: close` request: Hummingbird ends the
    /// connection after it, so nothing more is answered here.
    private var routerCloses = false

    init(simulation: Simulation, counter: Counter) {
        self.simulation = simulation
        self.counter = counter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if closing { return }
        if answering {
            waiting.append(.part(part))
        } else {
            process(part, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // While answering, the replay ends with its own read-complete.
        if !answering { context.fireChannelReadComplete() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answering { waiting.append(.error(error)) } else { context.fireErrorCaught(error) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if answering { waiting.append(.event(event)) } else { context.fireUserInboundEventTriggered(event) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if answering { waiting.append(.inactive) } else { context.fireChannelInactive() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routerResponsesPending -= 1 }
        context.write(data, promise: promise)
    }

    private func process(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if routerResponsesPending == 0, let held = hold(head) {
                self.held = held
            } else {
                routerResponsesPending += 1
                if head.headerFields[.connection] == "close" { routerCloses = true }
                context.fireChannelRead(wrapInboundOut(part))
                // An event stream holds its connection for minutes and asks
                // nothing else of it: leave the pipeline rather than keep
                // this handler for every held stream (measured: about 0.4 KiB
                // each, with `scripts/bench/simulator --only streams`).
                if head.method == .post, head.path == "/run_sse", waiting.isEmpty {
                    context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                }
            }
        case .body:
            // A held request has no body (`hold` makes sure).
            if held == nil { context.fireChannelRead(wrapInboundOut(part)) }
        case .end:
            guard let held else { return context.fireChannelRead(wrapInboundOut(part)) }
            self.held = nil
            answer(held, context: context)
        }
    }

    /// The request, when this handler answers it (see the type's notes).
    private func hold(_ head: HTTPRequest) -> Held? {
        // Without macOS 15's `checkIsolated`, `assumeIsolated` outside a task traps.
        guard #available(macOS 15, iOS 18, tvOS 18, watchOS 11, *), simulation.eventLoop != nil else { return nil }
        guard !routerCloses, head.method == .get, let path = head.path, let (route, parameters) = Self.polledRoute(path) else { return nil }
        // A fault named in the request is the front middleware's to apply.
        let scan = HeaderScan(head.headerFields)
        guard scan.fault == nil, !scan.hasBody, !scan.repeatsFields, !simulation.faults.matches(method: "GET", path: path) else { return nil }
        let plan = FrontMiddleware.Plan(
            simulation: simulation, fault: nil, route: route, arrival: simulation.clock.elapsed, method: "GET", path: path,
            missingAttribution: scan.missingAttribution)
        return Held(route: route, parameters: parameters, token: scan.token, closes: scan.closes, plan: plan)
    }

    /// The polled route of a GET's path, when the path is in its plain form
    /// and the table resolves it to one route only (a path two routes could
    /// take, like `/api/render/proxy/lambda/download`, is the router's).
    static func polledRoute(_ path: String) -> (route: Route, parameters: [String: String])? {
        guard let resolved = Route.resolve(method: "GET", path: path), resolved.route.polled else { return nil }
        return resolved
    }

    private func answer(_ held: Held, context: ChannelHandlerContext) {
        let simulation = simulation
        let token = held.token
        guard let domainLoop = simulation.eventLoop else { return }
        if domainLoop.inEventLoop {
            write(simulation.assumeIsolated { $0.answer(held.route, parameters: held.parameters, token: token) }, for: held, context: context)
            return
        }
        answering = true
        let home = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: home)
        domainLoop.execute {
            let answer = simulation.assumeIsolated { $0.answer(held.route, parameters: held.parameters, token: token) }
            home.execute {
                let (handler, context) = bound.value
                handler.answering = false
                handler.write(answer, for: held, context: context)
                handler.replayWaiting(context: context)
            }
        }
    }

    /// Passes on what came in during an answer, in order, until the next
    /// answer made on the domain's loop (if one of these is one).
    private func replayWaiting(context: ChannelHandlerContext) {
        var read = false
        var index = 0
        defer { waiting.removeFirst(index) }
        while !answering, index < waiting.count {
            let next = waiting[index]
            index += 1
            switch next {
            case .part(let part):
                if !closing { process(part, context: context) }
                read = true
            case .error(let error):
                if read { context.fireChannelReadComplete() }
                read = false
                context.fireErrorCaught(error)
            case .event(let event):
                if read { context.fireChannelReadComplete() }
                read = false
                context.fireUserInboundEventTriggered(event)
            case .inactive:
                if read { context.fireChannelReadComplete() }
                read = false
                context.fireChannelInactive()
            }
        }
        // Hummingbird's async channel takes reads in at the end of a read
        // cycle: this replay is one.
        if read { context.fireChannelReadComplete() }
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
            closing = true
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

import HTTPTypes
import NIOCore
import NIOHTTPTypes
import NemoCore

/// A request the event loop answers itself (``PolledRouteHandler``).
protocol HeldRequest {
    /// It asked for `Connection: close`.
    var closes: Bool { get }
    /// Its answer is made over time, even on the domain's loop (an event
    /// stream): always `answerLater`, and ``answerWritten`` once it ended.
    var asynchronous: Bool { get }
}

extension HeldRequest {
    var asynchronous: Bool { false }
}

/// The decisions of ``PolledRouteHandler`` as a value: what comes in on a
/// connection (request parts, errors, events, the end) and what goes out
/// (a router response's end) move it on, and it returns the actions the
/// handler carries out, in order. It does no I/O, so every path through it
/// is tested without a channel.
///
/// The rules: a request it may answer (see `hold`) and that arrives while
/// no router response is pending is held from its head to its end, then
/// answered; anything else goes on to Hummingbird untouched. While an
/// answer is made on another event loop, everything that comes in waits,
/// and is replayed in order once the answer is written, so answers leave in
/// the order requests came. After answering `Connection: close`, what
/// follows is dropped (as Hummingbird drops it); after passing one on,
/// nothing more is held (Hummingbird ends the connection after it).
struct PolledRouteStateMachine<Held: HeldRequest> {
    /// What came in.
    enum Inbound {
        case part(HTTPRequestPart)
        case error(any Error)
        case event(Any)
        case inactive

        var isUserEvent: Bool {
            if case .event = self { return true }
            return false
        }
    }

    enum Action {
        /// Pass this on to the next handler.
        case forward(Inbound)
        /// Pass on the end of a read cycle.
        case forwardReadComplete
        /// Answer this request now, on this loop.
        case answerNow(Held)
        /// Answer it on the domain's loop (or over time); call ``answerWritten()`` once written.
        case answerLater(Held)
        /// A body part of the held request (an event stream's JSON).
        case collect(ByteBuffer)
        /// The connection ended before this held request did: journal it as
        /// the router journals a body it could not read.
        case abandon(Held)
    }

    /// The actions of one step, in order: none, one or two of them stored
    /// inline (no allocation on the hot path), more only in a replay.
    struct Actions: Sequence {
        private enum Storage {
            case none
            case one(Action)
            case two(Action, Action)
            case many([Action])
        }

        private var storage: Storage

        static var none: Actions { Actions(storage: .none) }
        static func one(_ action: Action) -> Actions { Actions(storage: .one(action)) }
        static func two(_ first: Action, _ second: Action) -> Actions { Actions(storage: .two(first, second)) }

        mutating func append(contentsOf other: Actions) {
            guard case .many(var all) = storage else {
                storage = .many(Array(self) + Array(other))
                return
            }
            all += Array(other)
            storage = .many(all)
        }

        mutating func append(_ action: Action) { append(contentsOf: .one(action)) }

        var isEmpty: Bool { underestimatedCount == 0 }

        var underestimatedCount: Int {
            switch storage {
            case .none: return 0
            case .one: return 1
            case .two: return 2
            case .many(let all): return all.count
            }
        }

        struct Iterator: IteratorProtocol {
            let actions: Actions
            var index = 0

            mutating func next() -> Action? {
                defer { index += 1 }
                switch actions.storage {
                case .none: return nil
                case .one(let action): return index == 0 ? action : nil
                case .two(let first, let second): return index == 0 ? first : index == 1 ? second : nil
                case .many(let all): return index < all.count ? all[index] : nil
                }
            }
        }

        func makeIterator() -> Iterator { Iterator(actions: self) }
    }

    /// Router responses whose end has not been written yet.
    private(set) var routerResponsesPending = 0
    private var held: Held?
    /// An answer is being made on the domain's loop.
    private(set) var answering = false
    /// What came in meanwhile (an array: empty, it allocates nothing, and
    /// every open connection keeps one of these until it carries a stream).
    private var waiting: [Inbound] = []
    /// A request is being held (its head came, its end not yet).
    var holding: Bool { held != nil }
    /// An answer to `Connection: close` was written.
    private(set) var closing = false
    /// A `Connection: close` request went to the router.
    private var routerCloses = false

    /// Something came in. `hold` says whether this handler answers a
    /// request (nil: the router's); `local`: whether the domain runs on this
    /// connection's loop (then answers are made at once).
    mutating func inbound(_ event: Inbound, local: Bool, hold: (HTTPRequest) -> Held?) -> Actions {
        if answering {
            waiting.append(event)
            return .none
        }
        return process(event, local: local, hold: hold)
    }

    /// The end of a read cycle: held back while an answer is being made (the
    /// replay ends with its own).
    mutating func readComplete() -> Actions {
        answering ? .none : .one(.forwardReadComplete)
    }

    /// A router response's end went out.
    mutating func routerResponseEnded() {
        routerResponsesPending -= 1
    }

    /// The answer that was being made elsewhere has been written: what
    /// waited meanwhile is replayed, up to the next answer made elsewhere.
    mutating func answerWritten(local: Bool, hold: (HTTPRequest) -> Held?) -> Actions {
        answering = false
        var actions = Actions.none
        var read = false
        while !answering, !waiting.isEmpty {
            let next = waiting.removeFirst()
            if case .part = next {
                read = true
            } else {
                if read { actions.append(.forwardReadComplete) }
                read = false
            }
            actions.append(contentsOf: process(next, local: local, hold: hold))
        }
        // Hummingbird's async channel takes reads in at the end of a read
        // cycle: this replay is one.
        if read { actions.append(.forwardReadComplete) }
        return actions
    }

    private mutating func process(_ event: Inbound, local: Bool, hold: (HTTPRequest) -> Held?) -> Actions {
        guard case .part(let part) = event else {
            // The connection ended (or failed) in the middle of a held request.
            if let request = held, !(event.isUserEvent) {
                held = nil
                return .two(.abandon(request), .forward(event))
            }
            return .one(.forward(event))
        }
        if closing { return .none }
        switch part {
        case .head(let head):
            if routerResponsesPending == 0, !routerCloses, let request = hold(head) {
                held = request
                return .none
            }
            routerResponsesPending += 1
            if head.headerFields[.connection] == "close" { routerCloses = true }
            return .one(.forward(event))
        case .body(let buffer):
            // Only an asynchronous held request has a body (`hold` makes sure).
            return held == nil ? .one(.forward(event)) : .one(.collect(buffer))
        case .end:
            guard let request = held else { return .one(.forward(event)) }
            held = nil
            if request.closes { closing = true }
            if local, !request.asynchronous { return .one(.answerNow(request)) }
            answering = true
            return .one(.answerLater(request))
        }
    }
}

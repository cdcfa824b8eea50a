import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import NemoCore

/// One `/run_sse` event stream served from its connection's event loop
/// (``PolledRouteHandler``): the same events, ids, faults, endings and
/// journal entry as ``EventStreamResponder``, walked by the same
/// ``StreamCursor``, but with a timer instead of a suspended task. A held
/// stream costs this object, its cursor and one scheduled callback at a
/// time.
///
/// Everything here runs on the connection's loop; the domain is called on
/// its own loop (directly when it is this one, otherwise one hop there and
/// back), before each event as the router's path does (`settle`, or
/// `resolve` for an event whose content depends on the work).
final class EventLoopStream: NIOScheduledCallbackHandler {
    private var cursor: StreamCursor
    private let simulation: Simulation
    /// The simulation's clock (read through it: a held stream keeps no copy).
    private var clock: any SimulationClock { simulation.clock }
    private let journal: FrontMiddleware.Plan
    private let context: ChannelHandlerContext
    /// Told once when the stream is over (``PolledRouteHandler/streamEnded(closed:closes:)``).
    /// Held strongly until then (the context holds the handler anyway, and
    /// a weak reference costs a side table per stream); let go at the end.
    private var owner: PolledRouteHandler?
    /// The request asked for `Connection: close`.
    private let closes: Bool
    /// Counts the events written (one relaxed atomic add each).
    private let sent: PolledRouteHandler.Counter
    private var timer: NIOScheduledCallback?
    /// The time of the event waiting for it (the cursor makes the event
    /// when it is sent: a held stream keeps 9 bytes for it, not the event).
    private var pendingTime: Double?
    private var finished = false
    /// The end is being written.
    private var finishing = false
    /// An event is due but the client is not reading: it waits (as the
    /// router's path waits for its writer), rather than queue in memory.
    private var waitingForWritability = false

    init(
        plan: StreamPlan, fault: FaultResponse?, simulation: Simulation, journal: FrontMiddleware.Plan, context: ChannelHandlerContext,
        owner: PolledRouteHandler, closes: Bool, sent: PolledRouteHandler.Counter
    ) {
        self.sent = sent
        cursor = StreamCursor(plan: plan, fault: fault, heartbeatInterval: simulation.profile.heartbeatIntervalSeconds, now: simulation.clock.elapsed)
        self.simulation = simulation
        self.journal = journal
        self.context = context
        self.owner = owner
        self.closes = closes
    }

    /// Writes the head and walks the events.
    func start() {
        var headers = EventStreamResponder.headers
        headers[.date] = HTTPDate.now()
        context.writeAndFlush(NIOAny(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: headers))), promise: nil)
        pump()
    }

    /// The connection can take writes again: send what waited.
    func writable() {
        guard waitingForWritability else { return }
        waitingForWritability = false
        due()
    }

    /// The client went away (or the connection was closed under it).
    func clientLeft() {
        guard !finished, !finishing else { return }
        timer?.cancel()
        timer = nil
        journal.note.streamEnded(.client)
        finish(closed: true)
    }

    /// Calls `body` on `loop` once simulated time reaches `target` (a
    /// fault's delay before a stream starts).
    static func after(elapsed target: Double, clock: any SimulationClock, on loop: any EventLoop, _ body: @escaping () -> Void) {
        let bound = NIOLoopBound(body, eventLoop: loop)
        if clock.elapsed >= target {
            loop.execute { bound.value() }
            return
        }
        guard let wait = clock.realSecondsToWait(untilElapsed: target) else {
            Task {
                try? await clock.sleep(untilElapsed: target)
                loop.execute { bound.value() }
            }
            return
        }
        loop.scheduleTask(in: .nanoseconds(Int64(wait * 1e9))) { after(elapsed: target, clock: clock, on: loop, bound.value) }
    }

    /// How many due events one turn of the event loop sends before it
    /// lets the loop's other work run (a clock jump, or a client that
    /// catches up, can make thousands due at once).
    static let eventsPerTurn = 16

    /// Sends what is due, then waits for the next event's time.
    private func pump() {
        var sentThisTurn = 0
        while !finished, !finishing {
            if sentThisTurn == Self.eventsPerTurn {
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.execute { bound.value.due() }
                return
            }
            if pendingTime == nil {
                switch cursor.upcoming() {
                case .event(let time): pendingTime = time
                case .drop:
                    end(as: .drop)
                    return
                case .end:
                    end(as: .end)
                    return
                }
            }
            guard let time = pendingTime else { return }
            if clock.elapsed < time {
                guard let wait = clock.realSecondsToWait(untilElapsed: time) else {
                    // A clock moved by hand: a task waits for it.
                    let loop = context.eventLoop
                    let bound = NIOLoopBound(self, eventLoop: loop)
                    let clock = clock
                    Task {
                        try? await clock.sleep(untilElapsed: time)
                        loop.execute { bound.value.due() }
                    }
                    return
                }
                if wait > 0 {
                    timer = try? context.eventLoop.assumeIsolated().scheduleCallback(in: .nanoseconds(Int64(wait * 1e9)), handler: self)
                    if timer == nil { clientLeft() }  // the loop is shutting down
                    return
                }
            }
            guard context.channel.isWritable else {
                waitingForWritability = true
                return
            }
            pendingTime = nil
            // The step seen ahead, now made: the cursor has not moved since
            // (only a write moves it, and none happens in between).
            let step = cursor.next()
            guard case .event(let event, _) = step else {
                assertionFailure("the stream's cursor moved between its look ahead and its step")
                end(as: step)
                return
            }
            guard send(event) else { return }  // the domain answers on its own loop
            sentThisTurn += 1
        }
    }

    /// Ends the stream as the cursor's last step says: the end chunk, or
    /// (`drop_after_events`) a cut with no end chunk, as the router's path does.
    private func end(as step: StreamCursor.Step) {
        if case .drop = step {
            journal.note.streamEnded(.fault)
            context.close(promise: nil)
            finish(closed: true)
            return
        }
        journal.note.streamEnded(cursor.ending)
        finishing = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil))).whenComplete { _ in bound.value.finish(closed: false) }
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        due()
    }

    /// A timer fired (or a task's sleep ended): send if the time came.
    private func due() {
        guard !finished, !finishing else { return }
        pump()
    }

    /// Sends `event`: at once when the domain runs on this loop (true);
    /// otherwise after a hop to the domain's loop and back (false: the walk
    /// goes on from there).
    private func send(_ event: PlannedEvent) -> Bool {
        let plan = cursor.plan
        let simulation = simulation
        guard let domainLoop = simulation.eventLoop, domainLoop !== context.eventLoop else {
            write(Self.resolve(event, plan: plan, simulation: simulation))
            return true
        }
        let home = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: home)
        domainLoop.execute {
            let resolved = Self.resolve(event, plan: plan, simulation: simulation)
            home.execute {
                let stream = bound.value
                guard !stream.finished else { return }
                stream.write(resolved)
                stream.pump()
            }
        }
        return false
    }

    /// The event as the domain has it now (on the domain's loop).
    private static func resolve(_ event: PlannedEvent, plan: StreamPlan, simulation: Simulation) -> PlannedEvent {
        simulation.assumeIsolated { simulation in
            var resolved = event
            if let deferred = event.deferred {
                // What the work did is known now: the work was due before this event.
                resolved.event = simulation.resolve(deferred, sessionID: plan.sessionID, messageIndex: plan.messageIndex)
            } else {
                simulation.settle()
            }
            return resolved
        }
    }

    private func write(_ event: PlannedEvent) {
        let text = cursor.text(for: event, clock: clock)
        context.writeAndFlush(NIOAny(HTTPResponsePart.body(context.channel.allocator.buffer(string: text))), promise: nil)
        cursor.sent()
        sent.increment()
        journal.note.streamEvent()
    }

    private func finish(closed: Bool) {
        guard !finished else { return }
        finished = true
        journal.journal(status: 200, code: nil)
        let owner = self.owner
        self.owner = nil
        owner?.streamEnded(closed: closed, closes: closes, context: context)
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore
import ServerSentEvents

/// `POST /run_sse`: answers errors as a JSON envelope before any stream
/// starts; otherwise streams the operation's planned events at their
/// simulated times, each with an `id`, and closes with no done event.
struct EventStreamResponder {
    let simulation: Simulation

    /// A deliberate cut of the connection (the `drop_after_events` fault).
    struct DroppedStream: Error {}

    static let example = #"{"app_name": "nemo_agent", "user_id": "me", "session_id": "<session_id>", "new_message": {"parts": [{"text": "..."}]}}"#

    /// Kept small on purpose: a connection's task keeps its deepest async
    /// stack while the stream runs (see `FrontMiddleware.Plan`), so the body
    /// is collected here and everything else happens in `start`. A failure
    /// before the stream (2001, a bad body) is thrown, for the front
    /// middleware to envelope.
    func respond(to request: Request, context: SimulatorRequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw SimulatorFailure.badRequest("request body unreadable or larger than \(context.maxUploadSize) bytes: \(error)")
        }
        return try await start(
            body: buffer, token: request.bearerToken, missingAttribution: request.missingAttribution, lastEventID: request.headers[Self.lastEventID],
            fault: context.fault)
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    func start(
        body buffer: ByteBuffer, token: String?, missingAttribution: [String], lastEventID: String?, fault: FaultResponse?
    ) async throws(SimulatorFailure) -> Response {
        let body = try Request.decodeJSON(RunSSERequest.self, from: buffer, example: Self.example)
        let plan = try await simulation.startMessage(token: token, missingAttribution: missingAttribution, request: body, lastEventID: lastEventID)
        return stream(plan, fault: fault)
    }

    /// The head of every event stream, on either path.
    static let headers: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8",
        .cacheControl: "no-cache",
        HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    func stream(_ plan: StreamPlan, fault: FaultResponse?) -> Response {
        let clock = simulation.clock
        let simulation = self.simulation
        let note = JournalNote.current
        let heartbeatInterval = simulation.profile.heartbeatIntervalSeconds
        return Response(status: .ok, headers: Self.headers, body: ResponseBody { writer in
            var cursor = StreamCursor(plan: plan, fault: fault, heartbeatInterval: heartbeatInterval, now: clock.elapsed)
            while true {
                let (event, time): (PlannedEvent, Double)
                switch cursor.next() {
                case .end:
                    note?.streamEnded(cursor.ending)
                    try await writer.finish(nil)
                    return
                case .drop:
                    note?.streamEnded(.fault)
                    throw DroppedStream()
                case .event(let next, let at):
                    (event, time) = (next, at)
                }
                do {
                    try await clock.sleep(untilElapsed: time)
                } catch {
                    note?.streamEnded(.client)  // cancelled: the client went away
                    throw error
                }
                var resolved = event
                if let deferred = event.deferred {
                    // What the work did is known now: the work was due before this event.
                    resolved.event = await simulation.resolve(deferred, sessionID: plan.sessionID, messageIndex: plan.messageIndex)
                } else {
                    await simulation.settle()
                }
                do {
                    try await writer.write(ByteBuffer(string: cursor.text(for: resolved, clock: clock)))
                } catch {
                    note?.streamEnded(.client)
                    throw error
                }
                cursor.sent()
                note?.streamEvent()
            }
        })
    }
}

/// The walk through one stream's events, the same on both paths (the
/// router's ``EventStreamResponder`` and the event loop's
/// ``EventLoopStream``): the operation's schedule or a stall fault's
/// heartbeats, the cut of `drop_after_events`, each event's `data` and `id`,
/// and how the stream ended.
struct StreamCursor {
    enum Step {
        /// Send this event once simulated time reaches `time`.
        case event(PlannedEvent, time: Double)
        /// Cut the connection now (`drop_after_events`).
        case drop
        /// The stream is over: end it as ``ending`` says.
        case end

        /// A step seen ahead: its time, not yet its event.
        enum Upcoming {
            case event(time: Double)
            case drop
            case end
        }
    }

    let plan: StreamPlan
    /// Where the walk is (of the stall's heartbeats when stalled, otherwise
    /// of `plan.schedule`).
    private var position = EventSchedule.Position()
    /// A stall or a cut armed for this stream (nil for nearly every stream:
    /// a held stream keeps one pointer for it).
    private let faulted: Faulted?
    private var sentCount = 0

    /// What a stall (`stall`) or a cut (`drop_after_events`) changes in the walk.
    private final class Faulted: Sendable {
        /// The stall's heartbeats, which replace the operation's events.
        let stall: EventSchedule?
        let stallStart: Double
        let dropAfter: Int

        init(stall: EventSchedule?, stallStart: Double, dropAfter: Int) {
            self.stall = stall
            self.stallStart = stallStart
            self.dropAfter = dropAfter
        }
    }

    /// A value: a copy walks on from the same place (``EventLoopStream``
    /// looks at the next event's time without keeping the event).
    init(plan: StreamPlan, fault: FaultResponse?, heartbeatInterval: Double, now: Double) {
        self.plan = plan
        let stall = fault?.stalledStream(heartbeatInterval: heartbeatInterval, messageIndex: plan.messageIndex)
        let dropAfter = fault?.dropsAfterEvents
        faulted = stall == nil && dropAfter == nil ? nil : Faulted(stall: stall, stallStart: now, dropAfter: dropAfter ?? Int.max)
        if stall == nil {
            // As `dropFirst`: past the events the client saw, stopping at the end.
            var skipped = 0
            while skipped < plan.skip, position.advance(in: plan.schedule) != nil { skipped += 1 }
        }
    }

    /// What comes next.
    mutating func next() -> Step {
        switch advance() {
        case .event(let found, let schedule, let time): return .event(position.event(found, in: schedule), time: time)
        case .drop: return .drop
        case .end: return .end
        }
    }

    /// When the next event is due, or that a cut or the end comes next,
    /// without making the event (``next()`` makes it when it is sent).
    func upcoming() -> Step.Upcoming {
        var ahead = self
        switch ahead.advance() {
        case .event(_, _, let time): return .event(time: time)
        case .drop: return .drop
        case .end: return .end
        }
    }

    private enum Advance {
        case event(EventSchedule.Position.Found, in: EventSchedule, time: Double)
        case drop
        case end
    }

    /// Moves past the next event (of the stall when stalled, otherwise of
    /// the plan), or says a cut or the end comes.
    private mutating func advance() -> Advance {
        if let faulted, let stall = faulted.stall {
            guard let found = position.advance(in: stall) else { return .end }
            if sentCount >= faulted.dropAfter { return .drop }
            return .event(found, in: stall, time: faulted.stallStart + found.offset(in: stall))
        }
        guard let found = position.advance(in: plan.schedule) else { return .end }
        if let faulted, sentCount >= faulted.dropAfter { return .drop }
        return .event(found, in: plan.schedule, time: plan.time(atOffset: found.offset(in: plan.schedule)))
    }

    /// An event went out.
    mutating func sent() { sentCount += 1 }

    /// Why the stream ended, when ``next()`` says `.end`.
    var ending: JournalNote.StreamEnd { stalled ? .fault : plan.silentClose ? .silent : .server }

    /// A stall fault replaced the operation's events.
    private var stalled: Bool { faulted?.stall != nil }

    /// An event as it goes on the wire (a stall's heartbeats carry no id).
    func text(for event: PlannedEvent, clock: any SimulationClock) -> String {
        ServerSentEventEncoder.encode(data: plan.data(for: event, clock: clock), id: plan.eventIDs && !stalled ? event.id : nil)
    }
}

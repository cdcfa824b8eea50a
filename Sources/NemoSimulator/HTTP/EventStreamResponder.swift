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

    func stream(_ plan: StreamPlan, fault: FaultResponse?) -> Response {
        let clock = simulation.clock
        let heartbeatInterval = simulation.profile.heartbeatIntervalSeconds
        let simulation = self.simulation
        let note = JournalNote.current
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var schedule = plan.remaining.makeIterator()
            var stall = fault?.stalledStream(heartbeatInterval: heartbeatInterval, messageIndex: plan.messageIndex)?.makeIterator()
            let stallStart = clock.elapsed
            func nextEvent() -> (event: PlannedEvent, time: Double, id: String?)? {
                if stall != nil {
                    guard let beat = stall!.next() else { return nil }
                    return (beat, stallStart + beat.offset, nil)
                }
                guard let event = schedule.next() else { return nil }
                return (event, plan.time(of: event), event.id)
            }
            let dropAfter = fault?.dropsAfterEvents ?? Int.max
            var sent = 0
            while let (event, time, id) = nextEvent() {
                if sent >= dropAfter {
                    note?.streamEnded(.fault)
                    throw DroppedStream()
                }
                do {
                    try await clock.sleep(untilElapsed: time)
                } catch {
                    note?.streamEnded(.client)  // cancelled: the client went away
                    throw error
                }
                var event = event
                if let deferred = event.deferred {
                    // What the work did is known now: the work was due before this event.
                    event.event = await simulation.resolve(deferred, sessionID: plan.sessionID, messageIndex: plan.messageIndex)
                } else {
                    await simulation.settle()
                }
                let text = ServerSentEventEncoder.encode(data: plan.data(for: event, clock: clock), id: plan.eventIDs ? id : nil)
                do {
                    try await writer.write(ByteBuffer(string: text))
                } catch {
                    note?.streamEnded(.client)
                    throw error
                }
                sent += 1
                note?.streamEvent()
            }
            note?.streamEnded(stall != nil ? .fault : plan.silentClose ? .silent : .server)
            try await writer.finish(nil)
        })
    }
}

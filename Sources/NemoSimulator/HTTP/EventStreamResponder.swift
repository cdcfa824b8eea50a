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

    func respond(to request: Request, context: SimulatorRequestContext) async throws -> Response {
        let mode = simulation.profile.errorStatusMode
        let example = #"{"app_name": "nemo_agent", "user_id": "me", "session_id": "<session_id>", "new_message": {"parts": [{"text": "..."}]}}"#
        let body: RunSSERequest
        switch await request.decodeJSON(RunSSERequest.self, context: context, example: example) {
        case .failure(let failure): return Responses.failure(failure, mode: mode)
        case .success(let decoded): body = decoded
        }
        let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!]
        let plan: StreamPlan
        do {
            plan = try await simulation.startMessage(token: request.bearerToken, request: body, lastEventID: lastEventID)
        } catch {
            return Responses.failure(error, mode: mode)
        }
        let clock = simulation.clock
        let heartbeatInterval = simulation.profile.heartbeatIntervalSeconds
        let fault = context.fault
        let simulation = self.simulation
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var schedule = plan.remaining.makeIterator()
            var stall: EventSchedule.Iterator?
            if case .stall(let seconds) = fault {
                // Heartbeats only, for `seconds` of simulated time, then close.
                // They carry no id: a reconnect resumes where the real stream was.
                stall = EventSchedule(
                    milestones: [], heartbeatInterval: heartbeatInterval, heartbeatsUntil: seconds + heartbeatInterval / 2,
                    messageIndex: plan.messageIndex
                ).makeIterator()
            }
            let stallStart = clock.elapsed
            func nextEvent() -> (event: PlannedEvent, time: Double, id: String?)? {
                if stall != nil {
                    guard let beat = stall!.next() else { return nil }
                    return (beat, stallStart + beat.offset, nil)
                }
                guard let event = schedule.next() else { return nil }
                return (event, plan.time(of: event), event.id)
            }
            var dropAfter = Int.max
            if case .dropAfterEvents(let limit) = fault { dropAfter = limit }
            var sent = 0
            while let (event, time, id) = nextEvent() {
                if sent >= dropAfter { throw DroppedStream() }
                try await clock.sleep(untilElapsed: time)
                await simulation.settle()
                let text = ServerSentEventEncoder.encode(data: plan.data(for: event, clock: clock), id: id)
                try await writer.write(ByteBuffer(string: text))
                sent += 1
            }
            try await writer.finish(nil)
        })
    }
}

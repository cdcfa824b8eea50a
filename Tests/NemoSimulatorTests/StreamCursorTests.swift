import NemoCore
import Testing

@testable import NemoSimulator

/// The walk both stream paths share (``StreamCursor``): the held stream
/// keeps only the cursor and the next event's time, so the cursor must be
/// a value that walks on the same way from a copy.
@Suite struct StreamCursorTests {
    private func walk(_ cursor: StreamCursor) -> (ids: [String], events: [AgentEvent], end: String) {
        var cursor = cursor
        var ids: [String] = []
        var events: [AgentEvent] = []
        while true {
            switch cursor.next() {
            case .event(let event, _):
                ids.append(event.id)
                events.append(event.event)
                cursor.sent()
            case .drop: return (ids, events, "drop")
            case .end: return (ids, events, "end")
            }
        }
    }

    @Test("A cursor walks a plan's events, the tool call with the message as its instruction, and a copy walks on from the same place")
    func walksAndCopies() async throws {
        let simulation = frozenSimulation { $0.heartbeatIntervalSeconds = 10 }
        let (token, _, session) = try await signedIn(simulation)
        let plan = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let cursor = StreamCursor(plan: plan, fault: nil, heartbeatInterval: 10, now: 0)
        let whole = walk(cursor)
        #expect(whole.ids == plan.events.map(\.id) && whole.end == "end")
        #expect(whole.events == plan.events.map(\.event))
        #expect(whole.events.first == .toolCall(name: "generate_video_with_seedance", args: ["instruction": .string("make a video")]))
        var ahead = cursor
        for _ in 0..<3 { _ = ahead.next() }
        // The look-ahead a held stream keeps: the next event's time, the cursor unmoved.
        guard case .event(let time) = ahead.upcoming(), case .event(let event, let sameTime) = ahead.next() else {
            Issue.record("no fourth event")
            return
        }
        #expect(time == sameTime && event.id == plan.events[3].id)
        ahead = cursor
        for _ in 0..<3 { _ = ahead.next() }
        let copy = ahead
        #expect(walk(copy).ids == walk(ahead).ids)
        #expect(walk(ahead).ids == Array(plan.events.dropFirst(3)).map(\.id))
    }

    @Test("A resumed plan is walked from after the event named; one named past the end (Int.max) ends at once")
    func resumes() async throws {
        let simulation = frozenSimulation {
            $0.streamResume = true
            $0.heartbeatIntervalSeconds = 10
        }
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 300)
        let original = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let resumed = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: "1-3")
        #expect(resumed.resumed)
        let rest = walk(StreamCursor(plan: resumed, fault: nil, heartbeatInterval: 10, now: 0))
        #expect(rest.ids == Array(original.events.dropFirst(3)).map(\.id) && rest.end == "end")
        #expect(rest.events == Array(original.events.dropFirst(3)).map(\.event))
        // A stall ignores the resume (its heartbeats are its own, with no ids);
        // drop_after_events counts the events sent on this connection.
        let stalled = StreamCursor(plan: resumed, fault: .stall(seconds: 25), heartbeatInterval: 10, now: 0)
        #expect(walk(stalled).events == [.heartbeat, .heartbeat] && stalled.ending == .fault)
        let cut = walk(StreamCursor(plan: resumed, fault: .dropAfterEvents(1), heartbeatInterval: 10, now: 0))
        #expect(cut.ids == [original.events[3].id] && cut.end == "drop")
        let far = try await simulation.startMessage(
            token: token, request: message("make a video", session: session), lastEventID: "1-\(Int.max)")
        let farWalk = walk(StreamCursor(plan: far, fault: nil, heartbeatInterval: 10, now: 0))
        #expect(far.resumed && farWalk.ids.isEmpty && farWalk.end == "end")
    }

    @Test("A stall replaces the events with id-less heartbeats; drop_after_events cuts after that many")
    func faults() async throws {
        let simulation = frozenSimulation { $0.heartbeatIntervalSeconds = 10 }
        let (token, _, session) = try await signedIn(simulation)
        let plan = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let stalled = StreamCursor(plan: plan, fault: .stall(seconds: 35), heartbeatInterval: 10, now: 100)
        let stall = walk(stalled)
        #expect(stall.events == [.heartbeat, .heartbeat, .heartbeat] && stall.end == "end")
        #expect(stalled.ending == .fault)
        var first = stalled
        guard case .event(let beat, let time) = first.next() else {
            Issue.record("no heartbeat")
            return
        }
        #expect(time == 110 && !stalled.text(for: beat, clock: simulation.clock).contains("id:"))
        let cut = walk(StreamCursor(plan: plan, fault: .dropAfterEvents(2), heartbeatInterval: 10, now: 0))
        #expect(cut.ids == Array(plan.events.prefix(2)).map(\.id) && cut.end == "drop")
        // A copy looks ahead as the original then steps: the cut comes at the same place.
        var dropping = StreamCursor(plan: plan, fault: .dropAfterEvents(1), heartbeatInterval: 10, now: 0)
        _ = dropping.next()
        dropping.sent()
        var ahead = dropping
        guard case .drop = dropping.upcoming(), case .drop = ahead.next(), case .drop = dropping.next() else {
            Issue.record("the look ahead and the step differ")
            return
        }
    }
}

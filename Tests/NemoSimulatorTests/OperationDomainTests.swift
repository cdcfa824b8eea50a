import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// Uploads two images and runs a generation to completion (both stages).
func generatedDraft(_ simulation: Simulation, token: String, session: String) async throws -> StreamPlan {
    _ = try await simulation.completeUpload(
        token: token, userPath: "me", sessionID: session,
        files: [ReceivedFile(filename: "beach.jpg", size: 10, sha256: "a1"), ReceivedFile(filename: "city_night.mp4", size: 10, sha256: "a2")])
    let plan = try await simulation.startMessage(token: token, request: message("make a 30 second promo video", session: session), lastEventID: nil)
    try await simulation.advanceClock(by: 400)
    return plan
}

@Suite("Simulation: messages, credits, drafts")
struct OperationDomainTests {
    @Test("Messages are classified by the profile's rules")
    func classification() {
        let profile = BehaviourProfile()
        #expect(MessageKind.classify("turn these images into a promo video", draftIsEmpty: true, profile: profile) == .generation)
        #expect(MessageKind.classify("add a title \"Summer\"", draftIsEmpty: false, profile: profile) == .edit)
        #expect(MessageKind.classify("hello, what can you do?", draftIsEmpty: true, profile: profile) == .reply)
        #expect(MessageKind.classify("add music", draftIsEmpty: true, profile: profile) == .reply)
    }

    @Test("An operation's effects fall due from its timeline, each once, in order")
    func operationStateMachine() {
        var random = SeededRandom(seed: 1)
        var profile = BehaviourProfile()
        func plan(_ kind: MessageKind, _ text: String, _ index: Int, at start: Double, cost: Int) -> AgentOperation {
            AgentOperation.plan(
                kind: kind, text: text, intent: MessageIntent(text), messageIndex: index, startedAt: start, cost: cost, draftIsEmpty: kind == .generation,
                profile: profile, random: &random)
        }
        profile.generationDurationSeconds = SecondsRange(100, 100)
        profile.secondStageDurationSeconds = SecondsRange(30, 30)
        profile.editDurationSeconds = SecondsRange(20, 20)
        var generation = plan(.generation, "make a video", 1, at: 1000, cost: 100)
        #expect(generation.advance(to: 1099) == [] && generation.progress == .started)
        #expect(generation.advance(to: 1100) == [.applyWork] && generation.progress == .workApplied && generation.workApplied)
        #expect(generation.advance(to: 1120) == [])
        #expect(generation.advance(to: 1130) == [.applySecondStage, .consumeCredits(100)] && generation.isSettled)
        #expect(generation.advance(to: 9999) == [])
        // A jump past both stages gives both at once.
        var jumped = plan(.generation, "make a video", 2, at: 0, cost: 100)
        #expect(jumped.advance(to: 500) == [.applyWork, .applySecondStage, .consumeCredits(100)])
        var edit = plan(.edit, "add music", 3, at: 0, cost: 50)
        #expect(edit.advance(to: 20) == [.applyWork, .consumeCredits(50)] && edit.isSettled)
        profile.operationFailureRatio = 1
        var failing = plan(.edit, "add music", 4, at: 0, cost: 50)
        #expect(failing.advance(to: 19) == [])
        #expect(failing.advance(to: 20) == [.failWork, .releaseCredits(50)] && failing.isSettled)
        #expect(failing.phase(at: 20) == .failed)
    }

    @Test("A generation: tool call, heartbeats, tool result, text; credits frozen then consumed; two stages fill the draft")
    func generation() async throws {
        let simulation = frozenSimulation {
            $0.temporaryIssueRatio = 0
            $0.silentGenerationRatio = 0
        }
        let (token, _, session) = try await signedIn(simulation)
        _ = try await simulation.completeUpload(
            token: token, userPath: "me", sessionID: session, files: [ReceivedFile(filename: "beach.jpg", size: 10, sha256: "a1")])
        let plan = try await simulation.startMessage(token: token, request: message("make a promo video", session: session), lastEventID: nil)
        let kinds = plan.events.map(\.event.kind)
        #expect(kinds.first == "tool_call")
        #expect(kinds.suffix(2) == ["tool_result", "text"])
        let work = try #require(plan.events.first { $0.event.kind == "tool_result" }).offset
        #expect((100...300).contains(work))
        #expect(kinds.filter { $0 == "heartbeat" }.count == Int((work / 15).rounded(.up)) - 1 || kinds.filter { $0 == "heartbeat" }.count == Int(work / 15))
        #expect(plan.events.map(\.id) == (1...plan.events.count).map { "1-\($0)" })
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 0, frozen: 100))

        var state = try await simulation.state(token: token, userPath: "me", sessionID: session).state
        #expect(state.draft?.isReadyForExport == false)
        #expect(state.stages?.map(\.status) == ["running", "pending"])

        try await simulation.advanceClock(by: work + 1)
        state = try await simulation.state(token: token, userPath: "me", sessionID: session).state
        #expect(state.draft?.tracks.map(\.type) == [.video])
        #expect(state.stages?.map(\.status) == ["completed", "running"])
        #expect(!state.allStagesCompleted)

        try await simulation.advanceClock(by: 61)
        state = try await simulation.state(token: token, userPath: "me", sessionID: session).state
        #expect(state.draft?.tracks.map(\.type) == [.video, .audio, .text])
        #expect(state.allStagesCompleted)
        #expect(state.draft?.summary.hasPrefix("Timeline (3 tracks): 1. Video: beach (0-5s) 2. BGM: ") == true)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 0, frozen: 0))
    }

    @Test("Not enough credits: 2001 before anything starts, nothing frozen")
    func outOfCredits() async throws {
        let simulation = frozenSimulation()
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 99)
        await expectFailure(.code(.outOfCredits, "")) {
            _ = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        }
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 99, frozen: 0))
        // A plain reply is free and still works.
        let reply = try await simulation.startMessage(token: token, request: message("hello", session: session), lastEventID: nil)
        #expect(reply.events.last?.event.kind == "text")
    }

    @Test("A duplicate message while one runs starts a second operation and is charged twice")
    func doubleCharge() async throws {
        let simulation = frozenSimulation()
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 300)
        let first = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let second = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        #expect(first.messageIndex == 1 && second.messageIndex == 2)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 100, frozen: 200))
        try await simulation.advanceClock(by: 1000)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 100, frozen: 0))
    }

    @Test("A failed operation releases its frozen credits")
    func failureReleases() async throws {
        let simulation = frozenSimulation { $0.operationFailureRatio = 1 }
        let (token, _, session) = try await signedIn(simulation)
        let plan = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        #expect(plan.events.last?.event.kind == "error")
        #expect(try await simulation.credits(token: token).frozen == 100)
        try await simulation.advanceClock(by: 400)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 100, frozen: 0))
    }

    @Test("With the profile's stream_resume, Last-Event-ID resumes the running operation after that event, without a new charge")
    func resume() async throws {
        let simulation = frozenSimulation { $0.streamResume = true }
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 300)
        let plan = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let resumed = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: "1-3")
        #expect(resumed.resumed)
        #expect(resumed.events.map(\.id) == Array(plan.events.dropFirst(3)).map(\.id))
        #expect(try await simulation.credits(token: token).frozen == 100)
    }

    @Test("By default (strict) a POST after a dropped stream is a new operation, charged: Last-Event-ID is ignored")
    func noResume() async throws {
        let simulation = frozenSimulation()
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 300)
        let first = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let again = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: "1-3")
        #expect(!again.resumed && again.messageIndex == 2 && !again.eventIDs && first.messageIndex == 1)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 100, frozen: 200))
    }

    @Test("Editing costs ~50 per session: the first edit is charged, later ones are free; a failed charging edit passes the charge on")
    func editChargePerSession() async throws {
        let simulation = frozenSimulation { $0.silentCloseRatio = 0 }
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 1000)
        _ = try await generatedDraft(simulation, token: token, session: session)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 900, frozen: 0))
        _ = try await simulation.startMessage(token: token, request: message("add a title \"One\"", session: session), lastEventID: nil)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 850, frozen: 50))
        _ = try await simulation.startMessage(token: token, request: message("remove the music", session: session), lastEventID: nil)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 850, frozen: 50), "the second edit is free")
        try await simulation.advanceClock(by: 100)
        _ = try await simulation.startMessage(token: token, request: message("trim it to 3 seconds", session: session), lastEventID: nil)
        try await simulation.advanceClock(by: 100)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 850, frozen: 0))
        // Per edit (the lenient reading): every edit 50.
        _ = simulation.patchProfileUnchecked { $0.editCharge = .perEdit }
        _ = try await simulation.startMessage(token: token, request: message("add a title \"Two\"", session: session), lastEventID: nil)
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 800, frozen: 50))
        // A failing first edit releases its charge, and the next edit carries it.
        let failing = frozenSimulation { $0.operationFailureRatio = 1 }
        let (token2, user2, session2) = try await signedIn(failing, client: "client-2")
        try await failing.setCredits(userID: user2, available: 1000)
        _ = failing.patchProfileUnchecked { $0.operationFailureRatio = 0 }
        _ = try await generatedDraft(failing, token: token2, session: session2)
        _ = failing.patchProfileUnchecked { $0.operationFailureRatio = 1 }
        _ = try await failing.startMessage(token: token2, request: message("add a title \"A\"", session: session2), lastEventID: nil)
        try await failing.advanceClock(by: 100)
        #expect(try await failing.credits(token: token2) == CreditBalance(available: 900, frozen: 0))
        _ = failing.patchProfileUnchecked { $0.operationFailureRatio = 0 }
        _ = try await failing.startMessage(token: token2, request: message("add a title \"B\"", session: session2), lastEventID: nil)
        #expect(try await failing.credits(token: token2) == CreditBalance(available: 850, frozen: 50))
    }

    @Test("Edits change the draft as their words say, and say what they changed")
    func edits() async throws {
        let simulation = frozenSimulation { $0.silentCloseRatio = 0 }
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 1000)
        _ = try await generatedDraft(simulation, token: token, session: session)
        func edit(_ text: String) async throws -> (Draft, String) {
            let plan = try await simulation.startMessage(token: token, request: message(text, session: session), lastEventID: nil)
            #expect(plan.events.first?.event == .toolCall(name: "edit_multitrack", args: ["instruction": .string(text)]))
            try await simulation.advanceClock(by: 40)
            let reply = try #require(plan.events.last { $0.deferred == .editReply })
            guard case .text(let said) = await simulation.resolve(.editReply, sessionID: session, messageIndex: plan.messageIndex) else {
                Issue.record("no reply text")
                return (Draft(), "")
            }
            #expect(reply.offset > 0)
            return (try #require(try await simulation.state(token: token, userPath: "me", sessionID: session).state.draft), said)
        }
        var (draft, said) = try await edit("change the title to \"Summer Sale\"")
        #expect(draft.tracks.first { $0.type == .text }?.segments.first?.metadata["text"] == "Summer Sale")
        #expect(said.contains("Title set to \"Summer Sale\""))
        let before = draft.effectiveDuration
        (draft, said) = try await edit("trim it to 8 seconds")
        #expect(draft.effectiveDuration == 8000 && before > 8000 && said.contains("Trimmed to 8s"))
        (draft, _) = try await edit("remove the music")
        #expect(!draft.tracks.contains { $0.type == .audio })
        (draft, _) = try await edit("add music \"Jazz Nights\"")
        #expect(draft.tracks.first { $0.type == .audio }?.segments.first?.metadata["name"] == "Jazz Nights")
        // Asking for what is there changes nothing, and says so.
        let unchanged = draft
        (draft, said) = try await edit("add music")
        #expect(draft == unchanged && said.hasPrefix("I didn't change anything") && said.contains("already has music"))
        (draft, said) = try await edit("change the music")
        #expect(draft.tracks.first { $0.type == .audio }?.segments.first?.metadata["name"] != "Jazz Nights")
        #expect(try await simulation.credits(token: token) == CreditBalance(available: 1000 - 100 - 50, frozen: 0))
    }

    @Test("About 30% of edits close silently (no text) over many edits")
    func silentCloseRatio() async throws {
        let simulation = frozenSimulation()
        let (token, user, session) = try await signedIn(simulation)
        try await simulation.setCredits(userID: user, available: 1_000_000)
        _ = try await generatedDraft(simulation, token: token, session: session)
        var silent = 0
        let edits = 600
        for index in 0..<edits {
            let plan = try await simulation.startMessage(token: token, request: message("add a caption number \(index)", session: session), lastEventID: nil)
            let kinds = plan.events.map(\.event.kind)
            #expect(kinds.contains("tool_result"))
            if !kinds.contains("text") { silent += 1 }
        }
        let ratio = Double(silent) / Double(edits)
        #expect((0.25...0.35).contains(ratio), "silent-close ratio \(ratio)")
    }

    @Test("Heartbeats arrive at the profile's interval during long work")
    func heartbeats() async throws {
        let simulation = frozenSimulation {
            $0.heartbeatIntervalSeconds = 10
            $0.generationDurationSeconds = SecondsRange(200, 200)
        }
        let (token, _, session) = try await signedIn(simulation)
        let plan = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let beats = plan.events.filter { $0.event == .heartbeat }.map(\.offset)
        #expect(beats.count == 19)
        #expect(zip(beats, beats.dropFirst()).allSatisfy { abs($1 - $0 - 10) < 1e-9 })
    }

    @Test("The ADK dialect is a profile setting")
    func dialect() async throws {
        let simulation = frozenSimulation { $0.sseDialect = .adk }
        let (token, _, session) = try await signedIn(simulation)
        let plan = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        let data = plan.data(for: plan.events[0], clock: simulation.clock)
        let json = try JSONValue.parse(data)
        #expect(json["content"]?["parts"]?[0]?["functionCall"]?["name"] == "generate_video_with_seedance")
        #expect(json["invocationId"] != nil && json["author"] == "nemo_agent")
        #expect(AgentEventDecoder.events(fromData: data) == [plan.events[0].event])
    }

    @Test("The same seed gives the same events and ids whatever the concurrency")
    func determinism() async throws {
        func run(order: [Int], concurrent: Bool) async throws -> [String: [String]] {
            let simulation = frozenSimulation(seed: 42)
            var sessions: [Int: (String, String)] = [:]
            for client in order {
                let (token, user, session) = try await signedIn(simulation, client: "client-\(client)")
                try await simulation.setCredits(userID: user, available: 10_000)
                sessions[client] = (token, session)
            }
            let texts = ["make a video", "add a title \"A\"", "trim it", "hello", "add music"]
            var result: [String: [String]] = [:]
            if concurrent {
                try await withThrowingTaskGroup(of: (String, [String]).self) { group in
                    for client in order {
                        let (token, session) = sessions[client]!
                        group.addTask {
                            var lines: [String] = []
                            for text in texts {
                                let plan = try await simulation.startMessage(token: token, request: message(text, session: session), lastEventID: nil)
                                lines += plan.events.map { "\($0.id) \($0.offset) \(plan.data(for: $0, clock: simulation.clock).prefix(60))" }
                            }
                            return ("client-\(client)", lines + [session, token])
                        }
                    }
                    for try await (client, lines) in group { result[client] = lines }
                }
            } else {
                for client in order {
                    let (token, session) = sessions[client]!
                    var lines: [String] = []
                    for text in texts {
                        let plan = try await simulation.startMessage(token: token, request: message(text, session: session), lastEventID: nil)
                        lines += plan.events.map { "\($0.id) \($0.offset) \(plan.data(for: $0, clock: simulation.clock).prefix(60))" }
                    }
                    result["client-\(client)"] = lines + [session, token]
                }
            }
            return result
        }
        let sequential = try await run(order: Array(0..<8), concurrent: false)
        let concurrent = try await run(order: Array((0..<8).reversed()), concurrent: true)
        #expect(sequential == concurrent)
        let otherSeed = frozenSimulation(seed: 43)
        let token = try await otherSeed.issueToken(clientID: "client-0", clientIP: "10.0.0.1")
        #expect(sequential["client-0"]?.last != token.token)
    }
}

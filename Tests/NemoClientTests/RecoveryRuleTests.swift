import Foundation
import NemoClient
import NemoCore
import NemoSimulator
import Testing

@Suite("Client recovery rules, driven by the simulator's faults and clock")
struct RecoveryRuleTests {
    @Test("1001: a new token with the same client id, then one retry (where the server issues one)")
    func renewToken() async throws {
        let harness = try await ClientHarness.start { $0.tokensPerClient = 5 }
        try await harness.signIn()
        let before = await harness.client.token
        let user = await harness.client.userID
        harness.arm("GET", "/api/credits/balance/simple", .code(1001))
        _ = try await harness.client.credits()
        #expect(harness.log.all.contains(.renewedToken))
        #expect(await harness.client.token != before)
        #expect(await harness.client.userID == user, "same client id, same account")
        // Only one retry: a second 1001 reaches the caller.
        harness.arm("GET", "/api/credits/balance/simple", .code(1001), times: 2)
        let second = await #expect(throws: NemoError.self) { _ = try await harness.client.credits() }
        #expect(second?.code == .tokenInvalid)
        await harness.stop()
    }

    @Test("Strict: a 1001 within the token's 7 days cannot be mended with a new token (429): the 1001 reaches the caller, with its message")
    func renewalRefused() async throws {
        let harness = try await ClientHarness.start()
        try await harness.signIn()
        let before = await harness.client.token
        harness.arm("GET", "/api/credits/balance/simple", .code(1001))
        let error = await #expect(throws: NemoError.self) { _ = try await harness.client.credits() }
        #expect(error?.code == .tokenInvalid)
        #expect(harness.log.all.contains { $0.kind == "could_not_renew_token" }, "\(harness.log.all)")
        #expect(!harness.log.all.contains(.renewedToken))
        // The 429's documented wait and one retry came first.
        #expect(harness.log.waits == [30])
        #expect(await harness.client.token == before, "the token in hand is kept")
        await harness.stop()
    }

    @Test("Strict: a client that sends no attribution gets a 1001 that names the headers, and its token is kept")
    func missingAttribution() async throws {
        let harness = try await ClientHarness.start(attribution: AttributionHeaders(source: "", version: "", platform: ""))
        try await harness.client.issueToken()
        let error = await #expect(throws: NemoError.self) { try await harness.client.createSession() }
        #expect(error?.code == .tokenInvalid && error?.message.contains("missing attribution headers") == true, "\(String(describing: error))")
        await harness.stop()
    }

    @Test("1001 from an expired token after a clock jump is recovered")
    func expiredToken() async throws {
        let harness = try await ClientHarness.start { $0.sessionIdleTTLSeconds = 3600 }
        try await harness.signIn()
        try await harness.server.simulation.advanceClock(by: 8 * 86400)
        // The session idled out too: 1001 first (token), then 1002 (session).
        _ = try await harness.client.state()
        #expect(harness.log.all.contains(.renewedToken))
        #expect(harness.log.all.contains { if case .createdSession = $0 { return true } else { return false } })
        await harness.stop()
    }

    @Test("1002: a new session, then one retry")
    func newSession() async throws {
        let harness = try await ClientHarness.start()
        try await harness.signIn()
        let before = await harness.client.sessionID
        harness.arm("GET", "/api/state/*", .code(1002))
        _ = try await harness.client.state()
        #expect(await harness.client.sessionID != before)
        #expect(harness.log.all.contains(.retried(reason: "1002")))
        await harness.stop()
    }

    @Test("1002 before a message's stream: a new session, and the message goes there (it never started)")
    func newSessionForMessage() async throws {
        let harness = try await ClientHarness.start()
        try await harness.signIn()
        let before = await harness.client.sessionID
        harness.arm("POST", "/run_sse", .code(1002))
        let outcome = try await harness.client.sendAndWait("hello")
        #expect(outcome.ending == .text)
        #expect(await harness.client.sessionID != before)
        #expect(harness.log.all.contains(.retried(reason: "1002")))
        await harness.stop()
    }

    @Test("429: wait 30 s (scaled by the announced time scale), retry once")
    func rateLimit() async throws {
        let harness = try await ClientHarness.start(timeScale: 1000)
        try await harness.signIn()
        harness.arm("GET", "/api/credits/balance/simple", .httpStatus(429))
        _ = try await harness.client.credits()
        #expect(harness.log.waits == [30])
        // The wait ran on a clock scaled by the time scale the simulator announced.
        #expect((await harness.client.clock as? ScaledClock)?.timeScale == 1000)
        await harness.stop()
    }

    @Test("Each rule can be turned off")
    func rulesOff() async throws {
        let harness = try await ClientHarness.start(policy: .none)
        try await harness.signIn()
        harness.arm("GET", "/api/credits/balance/simple", .httpStatus(429))
        let error = await #expect(throws: NemoError.self) { _ = try await harness.client.credits() }
        #expect(error?.httpStatus == 429)
        #expect(harness.log.all.isEmpty)
        await harness.stop()
    }

    @Test("A reused render id: a new id, retry once")
    func duplicateRenderID() async throws {
        let harness = try await ClientHarness.start()
        try await harness.signIn()
        let draft = Draft(tracks: [Track(type: .video, segments: [Segment(start: 0, duration: 1000)])])
        _ = try await harness.client.submitRender(draft: draft, id: "render_same")
        let second = try await harness.client.submitRender(draft: draft, id: "render_same")
        #expect(second.id != "render_same")
        #expect(harness.log.all.contains { if case .retriedRender = $0 { return true } else { return false } })
        await harness.stop()
    }

    @Test("A failed render: a new id, retry once, then the error")
    func failedRender() async throws {
        let harness = try await ClientHarness.start { $0.renderFailureRatio = 1 }
        try await harness.signIn()
        _ = try await harness.client.sendAndWait("make a video")
        try await harness.server.simulation.advanceClock(by: 400)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-\(UUID().uuidString).mp4")
        let error = await #expect(throws: NemoError.self) { _ = try await harness.client.export(to: file) }
        #expect(error?.message.contains("ended failed") == true, "\(String(describing: error))")
        let retries = harness.log.all.filter { if case .retriedRender = $0 { return true } else { return false } }
        #expect(retries.count == 1)
        await harness.stop()
    }

    @Test("Skill 1.9 §3.6: a silent close checks the state at once, then every 60 s, until the draft changes")
    func silentClose() async throws {
        let harness = try await ClientHarness.start {
            $0.silentCloseRatio = 1
            $0.initialCredits = 1000
        }
        try await harness.signIn()
        _ = try await harness.client.sendAndWait("make a video")
        try await harness.server.simulation.advanceClock(by: 400)
        let outcome = try await harness.client.sendAndWait("add a title \"Hello\"")
        #expect(outcome.ending == .silentClose && outcome.texts.isEmpty)
        #expect(outcome.stateChanged)
        #expect(outcome.state?.draft?.tracks.contains { $0.type == .text } == true)
        #expect(harness.log.all.contains(.polledState(changed: true)))
        #expect(harness.log.waits.allSatisfy { $0 == 60 }, "\(harness.log.waits)")
        await harness.stop()
    }

    @Test("Skill 1.9 §3.6: a dropped stream is never re-sent: the state after 30 s; one stream, one charge")
    func droppedStream() async throws {
        // Work that ends within the checks' 4.5 minutes (30 s + 4 × 60 s).
        let harness = try await ClientHarness.start(timeScale: 1000) {
            $0.temporaryIssueRatio = 0
            $0.initialCredits = 1000
            $0.generationDurationSeconds = SecondsRange(100, 100)
            $0.secondStageDurationSeconds = SecondsRange(20, 20)
        }
        try await harness.signIn()
        harness.arm("POST", "/run_sse", .dropAfterEvents(3))
        let outcome = try await harness.client.sendAndWait("make a video")
        #expect(outcome.ending == .lost && outcome.reconnects == 0)
        #expect(outcome.stateChanged)
        #expect(harness.log.waits.first == 30 && harness.log.waits.dropFirst().allSatisfy { $0 == 60 }, "\(harness.log.waits)")
        let credits = try await harness.client.credits()
        #expect(credits.available == 900, "one generation charged")
        let streams = harness.server.simulation.journal.entries(clock: harness.server.simulation.clock).filter { $0.path == "/run_sse" }
        #expect(streams.count == 1)
        await harness.stop()
    }

    @Test("Lenient (stream_resume announced): a dropped stream is resumed after 2 s with Last-Event-ID, charged once")
    func resumedStream() async throws {
        let harness = try await ClientHarness.start(timeScale: 1000, profile: try BehaviourProfile.shipped("lenient")) {
            $0.temporaryIssueRatio = 0
            $0.initialCredits = 1000
        }
        try await harness.signIn()
        harness.arm("POST", "/run_sse", .dropAfterEvents(3))
        let outcome = try await harness.client.sendAndWait("make a video")
        #expect(outcome.reconnects == 1 && outcome.ending != .lost)
        #expect(harness.log.all.contains(.reconnected(attempt: 1, lastEventID: "1-3")))
        #expect(harness.log.waits.contains(2))
        let credits = try await harness.client.credits()
        #expect(credits.available == 900, "one generation charged, not two")
        let streams = harness.server.simulation.journal.entries(clock: harness.server.simulation.clock).filter { $0.path == "/run_sse" }
        #expect(streams.count == 2)
        #expect(outcome.events.filter { $0.kind == "tool_call" }.count == 1)
        await harness.stop()
    }

    @Test("Lenient: dropped more than 3 times: give up reconnecting, check the state")
    func droppedForGood() async throws {
        let harness = try await ClientHarness.start(timeScale: 1000, profile: try BehaviourProfile.shipped("lenient"))
        try await harness.signIn()
        harness.arm("POST", "/run_sse", .dropAfterEvents(1), times: 10)
        let outcome = try await harness.client.sendAndWait("make a video")
        #expect(outcome.ending == .lost && outcome.reconnects == 3)
        #expect(outcome.stateChanged)
        #expect(harness.log.all.contains(.polledState(changed: true)))
        await harness.stop()
    }

    @Test("Heartbeats only for 10 minutes: a timeout; 'still working' every 2 minutes")
    func heartbeatTimeout() async throws {
        // 150x: the 10 minutes take 4 s, so a loaded machine delaying a beat by tens of ms changes little.
        let harness = try await ClientHarness.start(timeScale: 150, policy: RecoveryPolicy()) { $0.heartbeatIntervalSeconds = 10 }
        try await harness.signIn()
        harness.arm("POST", "/run_sse", .stall(seconds: 900))
        let notices = ActionLog()
        let outcome = try await harness.client.sendAndWait("make a video") { event in
            if case .stillWorking(let seconds) = event { notices.append(.waited(seconds: seconds, reason: "notice")) }
        }
        #expect(outcome.ending == .timedOut)
        // About 60 come in the 10 minutes; a loaded machine may starve the server's loop of some.
        #expect(outcome.events.isEmpty && outcome.heartbeats >= 10, "heartbeats are counted, not kept: \(outcome.heartbeats)")
        let times = notices.waits
        #expect(times.count >= 4, "notices at about 120, 240, 360, 480 s: \(times)")
        #expect(times.allSatisfy { $0 >= 110 })
        await harness.stop()
    }

    @Test("Cancelling the consumer aborts the transfer")
    func cancelledStream() async throws {
        let harness = try await ClientHarness.start(timeScale: 10) { $0.heartbeatIntervalSeconds = 1 }
        try await harness.signIn()
        let stream = harness.client.send("make a video")
        let task = Task {
            var count = 0
            for try await event in stream {
                if case .agent = event { count += 1 }
                if count == 1 { break }
            }
            return count
        }
        #expect(try await task.value == 1)
        // The server sees the stream end long before the 100+ s generation would.
        var closed = false
        for _ in 0..<250 {
            if harness.server.simulation.journal.entries(clock: harness.server.simulation.clock).contains(where: { $0.path == "/run_sse" }) {
                closed = true
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(closed, "the stream's connection was closed")
        await harness.stop()
    }
}

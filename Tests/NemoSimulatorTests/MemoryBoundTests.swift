import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// Every table a client can grow is bounded: by a limit, or by eviction
/// once its entries expire (on the simulated clock).
@Suite("Simulator memory bounded by design")
struct MemoryBoundTests {
    @Test("Sessions, tokens, claims and rate windows are evicted after they expire; accounts stay")
    func eviction() async throws {
        let simulation = frozenSimulation { $0.maxSessionsPerAccount = 500 }
        let token = try await simulation.issueToken(clientID: "client-1", clientIP: "ip-client-1").token
        let first = try await simulation.createSession(token: token, userPath: "me", request: .init())
        for _ in 0..<300 { _ = try await simulation.createSession(token: token, userPath: "me", request: .init()) }
        _ = try await simulation.claimToken(token: token, taskID: first.taskID, sessionID: first.sessionID)
        var sizes = await simulation.tableSizes
        #expect(sizes["sessions"] == 301 && sizes["tokens"] == 1 && sizes["claims"] == 1 && sizes["client_windows"] == 1 && sizes["ip_windows"] == 1)
        // Past the idle window: the sessions go (their drafts and media with them).
        try await simulation.advanceClock(by: 3601)
        sizes = await simulation.tableSizes
        #expect(sizes["sessions"] == 0)
        #expect(sizes["tokens"] == 1, "the token is still valid")
        // Past the token's life and its grace, the claim's, and the rate windows.
        try await simulation.advanceClock(by: 8 * 86400 + 10)
        sizes = await simulation.tableSizes
        #expect(sizes["tokens"] == 0 && sizes["claims"] == 0 && sizes["client_windows"] == 0 && sizes["ip_windows"] == 0, "\(sizes)")
        #expect(sizes["accounts"] == 1, "an account is kept: its credits are what production would keep")
        #expect(sizes["scheduled_expiries"] == 0)
        // The same client id gets a token for the same account again.
        let again = try await simulation.issueToken(clientID: "client-1", clientIP: "ip-client-1")
        #expect(await simulation.tableSizes["accounts"] == 1 && again.token != token)
    }

    @Test("A session in use is not evicted; one whose work still runs waits for it")
    func inUse() async throws {
        let simulation = frozenSimulation { $0.generationDurationSeconds = SecondsRange(5000, 5000) }
        let (token, _, session) = try await signedIn(simulation)
        _ = try await simulation.startMessage(token: token, request: message("make a video", session: session), lastEventID: nil)
        try await simulation.advanceClock(by: 3700)
        #expect(await simulation.tableSizes["sessions"] == 1, "the generation still runs")
        _ = try await simulation.state(token: token, userPath: "me", sessionID: session)
        try await simulation.advanceClock(by: 1400)
        #expect(await simulation.tableSizes["sessions"] == 1, "touched 1400 s ago")
        try await simulation.advanceClock(by: 3700)
        #expect(await simulation.tableSizes["sessions"] == 0)
    }

    @Test("Limits per account and session, parts per upload and message size are profile keys with clear errors")
    func limits() async throws {
        let simulation = frozenSimulation {
            $0.maxSessionsPerAccount = 3
            $0.maxUploadsPerSession = 4
            $0.maxPartsPerUpload = 3
            $0.maxMessageBytes = 100
        }
        let (token, _, session) = try await signedIn(simulation)
        for _ in 0..<2 { _ = try await simulation.createSession(token: token, userPath: "me", request: .init()) }
        let tooMany = await failure { _ = try await simulation.createSession(token: token, userPath: "me", request: .init()) }
        #expect("\(tooMany.map { "\($0)" } ?? "")".contains("limit (3)"))
        let file = { (name: String) in ReceivedFile(filename: name, size: 10, sha256: "00") }
        let parts = await failure {
            _ = try await simulation.completeUpload(token: token, userPath: "me", sessionID: session, files: (1...4).map { file("\($0).png") })
        }
        #expect("\(parts.map { "\($0)" } ?? "")".contains("more than 3 in one request"))
        _ = try await simulation.completeUpload(token: token, userPath: "me", sessionID: session, files: (1...3).map { file("\($0).png") })
        let media = await failure {
            _ = try await simulation.completeUpload(token: token, userPath: "me", sessionID: session, files: [file("a.png"), file("b.png")])
        }
        #expect("\(media.map { "\($0)" } ?? "")".contains("limit of 4"))
        let long = await failure {
            _ = try await simulation.startMessage(token: token, request: message(String(repeating: "make a video ", count: 20), session: session), lastEventID: nil)
        }
        #expect("\(long.map { "\($0)" } ?? "")".contains("more than 100"))
    }

    @Test("Render submission looks only at the session's own renders; finished renders go after their retention")
    func renders() async throws {
        let simulation = frozenSimulation {
            $0.renderDurationSeconds = SecondsRange(60, 60)
            $0.maxRendersPerAccount = 50
            $0.renderRetentionSeconds = 86400
        }
        let (token, _, session) = try await signedIn(simulation)
        _ = try await generatedDraft(simulation, token: token, session: session)
        let draft = try #require(try await simulation.state(token: token, userPath: "me", sessionID: session).state.draft)
        for index in 0..<50 {
            _ = try await simulation.submitRender(token: token, request: RenderRequest(id: "r\(index)", sessionID: session, draft: draft))
        }
        // Queued one after another on the session's slot.
        #expect(await simulation.renders["r49"]!.startsAt >= 49 * 60)
        let over = await failure { _ = try await simulation.submitRender(token: token, request: RenderRequest(id: "r50", sessionID: session, draft: draft)) }
        #expect("\(over.map { "\($0)" } ?? "")".contains("holds 50 renders"))
        try await simulation.advanceClock(by: 50 * 62 + 86400 + 100)
        _ = try await simulation.credits(token: token)
        #expect(await simulation.tableSizes["renders"] == 0)
        #expect(await simulation.rendersBySession.isEmpty)
    }
}

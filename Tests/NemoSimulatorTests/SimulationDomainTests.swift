import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// A simulation whose clock stands still unless a test advances it.
func frozenSimulation(seed: UInt64 = 7, _ configure: (inout BehaviourProfile) -> Void = { _ in }) -> Simulation {
    var profile = BehaviourProfile()
    configure(&profile)
    return Simulation(seed: seed, clock: ManualSimulationClock(), profile: profile)
}

/// Token + session on a fresh simulation.
func signedIn(_ simulation: Simulation, client: String = "client-1") async throws -> (token: String, user: String, session: String) {
    let token = try await simulation.issueToken(clientID: client, clientIP: "ip-" + client)
    let session = try await simulation.createSession(token: token.token, userPath: "me", request: .init())
    return (token.token, token.userID, session.sessionID)
}

func message(_ text: String, session: String) -> RunSSERequest {
    RunSSERequest(text: text, sessionID: session)
}

func expectFailure(_ expected: SimulatorFailure, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        try await body()
        Issue.record("expected \(expected), got success", sourceLocation: sourceLocation)
    } catch let failure as SimulatorFailure {
        switch (failure, expected) {
        case (.code(let a, _), .code(let b, _)): #expect(a == b, "got \(failure)", sourceLocation: sourceLocation)
        case (.http(let a, _), .http(let b, _)): #expect(a == b, "got \(failure)", sourceLocation: sourceLocation)
        default: Issue.record("expected \(expected), got \(failure)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Simulation: tokens and sessions")
struct TokenAndSessionTests {
    @Test("A token needs X-Client-Id (400), starts with nmv_usr_, has 100 credits and a 7-day lifetime")
    func issuance() async throws {
        let simulation = frozenSimulation()
        await expectFailure(.http(400, "")) { _ = try await simulation.issueToken(clientID: nil, clientIP: "1.1.1.1") }
        await expectFailure(.http(400, "")) { _ = try await simulation.issueToken(clientID: "  ", clientIP: "1.1.1.1") }
        let token = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        #expect(token.token.hasPrefix("nmv_usr_"))
        #expect(token.userID.hasPrefix("anon_"))
        #expect(token.credits == 100)
        let expiry = try #require(token.expiryDate)
        #expect(abs(expiry.timeIntervalSince(simulation.clock.now) - 7 * 86400) < 2)
    }

    @Test("Re-issuing for the same client id gives a fresh token for the same account")
    func reissue() async throws {
        let simulation = frozenSimulation()
        let a = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        let b = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        #expect(a.token != b.token)
        #expect(a.userID == b.userID)
        // Both stay valid until they expire.
        _ = try await simulation.credits(token: a.token)
        _ = try await simulation.credits(token: b.token)
    }

    @Test("Per-IP limits: 5 new accounts an hour, 10 a window; per-client re-issue limit (429)")
    func rateLimits() async throws {
        let simulation = frozenSimulation { $0.tokenReissuesPerClientPerHour = 2 }
        for index in 0..<5 { _ = try await simulation.issueToken(clientID: "c\(index)", clientIP: "9.9.9.9") }
        await expectFailure(.http(429, "")) { _ = try await simulation.issueToken(clientID: "c5", clientIP: "9.9.9.9") }
        // Another IP is not limited.
        _ = try await simulation.issueToken(clientID: "other", clientIP: "8.8.8.8")
        try await simulation.advanceClock(by: 3601)
        for index in 5..<10 { _ = try await simulation.issueToken(clientID: "c\(index)", clientIP: "9.9.9.9") }
        try await simulation.advanceClock(by: 3601)
        await expectFailure(.http(429, "")) { _ = try await simulation.issueToken(clientID: "c10", clientIP: "9.9.9.9") }
        // Re-issues of a known client are limited per client.
        _ = try await simulation.issueToken(clientID: "c0", clientIP: "9.9.9.9")
        _ = try await simulation.issueToken(clientID: "c0", clientIP: "9.9.9.9")
        await expectFailure(.http(429, "")) { _ = try await simulation.issueToken(clientID: "c0", clientIP: "9.9.9.9") }
    }

    @Test("Expired and revoked tokens get 1001; a missing scope gets 403")
    func tokenStates() async throws {
        let simulation = frozenSimulation()
        let (token, _, _) = try await signedIn(simulation)
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.credits(token: "nmv_usr_unknown") }
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.credits(token: nil) }
        try await simulation.setScopes(token: token, scopes: [.read])
        _ = try await simulation.credits(token: token)
        await expectFailure(.http(403, "")) { _ = try await simulation.createSession(token: token, userPath: "me", request: .init()) }
        try await simulation.setScopes(token: token, scopes: [.all])
        try await simulation.advanceClock(by: 7 * 86400 + 1)
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.credits(token: token) }

        let fresh = try await simulation.issueToken(clientID: "client-1", clientIP: "ip-client-1")
        try await simulation.revoke(token: fresh.token)
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.credits(token: fresh.token) }
    }

    @Test("Sessions: me and the real user id work; another user id is 1001; unknown is 1002; idle expiry is 1002")
    func sessions() async throws {
        let simulation = frozenSimulation { $0.sessionIdleTTLSeconds = 600 }
        let (token, user, session) = try await signedIn(simulation)
        #expect(session.count == 19 && session.allSatisfy(\.isNumber))
        _ = try await simulation.state(token: token, userPath: "me", sessionID: session)
        _ = try await simulation.state(token: token, userPath: user, sessionID: session)
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.state(token: token, userPath: "anon_other", sessionID: session) }
        await expectFailure(.code(.sessionNotFound, "")) { _ = try await simulation.state(token: token, userPath: "me", sessionID: "123") }
        // Another user's session is not found for this user.
        let other = try await signedIn(simulation, client: "client-2")
        await expectFailure(.code(.sessionNotFound, "")) { _ = try await simulation.state(token: token, userPath: "me", sessionID: other.session) }
        // Activity keeps a session alive; idling past the TTL expires it.
        try await simulation.advanceClock(by: 500)
        _ = try await simulation.state(token: token, userPath: "me", sessionID: session)
        try await simulation.advanceClock(by: 500)
        _ = try await simulation.state(token: token, userPath: "me", sessionID: session)
        try await simulation.advanceClock(by: 601)
        await expectFailure(.code(.sessionNotFound, "")) { _ = try await simulation.state(token: token, userPath: "me", sessionID: session) }
    }
}

@Suite("Simulation: uploads")
struct UploadDomainTests {
    @Test("Accepted files are listed with metadata and appear in video_infos; 4001 and 4002 otherwise")
    func uploads() async throws {
        let simulation = frozenSimulation { $0.maxUploadBytes = 1000 }
        let (token, _, session) = try await signedIn(simulation)
        let result = try await simulation.completeUpload(
            token: token, userPath: "me", sessionID: session,
            files: [ReceivedFile(filename: "logo.PNG", size: 10, sha256: "ab", width: 64, height: 32), ReceivedFile(filename: "song.mp3", size: 20, sha256: "cd")])
        #expect(result.files.map(\.fileType) == ["image", "audio"])
        #expect(result.files[0].width == 64 && result.files[0].height == 32)
        #expect(result.files[0].hash == "ab")
        #expect(result.files[0].cdnURL.contains("/_nemosim/media/uploads/ab/logo.PNG"))
        #expect(result.sessionStateApplied)
        let state = try await simulation.state(token: token, userPath: "me", sessionID: session)
        #expect(state.videoInfos.count == 2)
        await expectFailure(.code(.unsupportedFileType, "")) {
            _ = try await simulation.completeUpload(token: token, userPath: "me", sessionID: session, files: [ReceivedFile(filename: "notes.txt", size: 1, sha256: "x")])
        }
        await expectFailure(.code(.fileTooLarge, "")) {
            _ = try await simulation.completeUpload(token: token, userPath: "me", sessionID: session, files: [ReceivedFile(filename: "big.mp4", size: 1001, sha256: "x")])
        }
        let urls = try await simulation.uploadURLs(token: token, userPath: "me", sessionID: session, urls: ["https://example.com/a/clip.mov?sig=1"])
        #expect(urls.files.first?.fileType == "video" && urls.files.first?.filename == "clip.mov")
        await expectFailure(.code(.unsupportedFileType, "")) {
            _ = try await simulation.uploadURLs(token: token, userPath: "me", sessionID: session, urls: ["https://example.com/page.html"])
        }
        await expectFailure(.http(400, "")) {
            _ = try await simulation.uploadURLs(token: token, userPath: "me", sessionID: session, urls: ["ftp://example.com/a.mp4"])
        }
    }
}

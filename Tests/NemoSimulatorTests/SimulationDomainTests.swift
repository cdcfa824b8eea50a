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

/// The simulator's refusal of `body`, if it refused.
func failure(_ body: () async throws -> Void) async -> SimulatorFailure? {
    do {
        try await body()
        return nil
    } catch {
        return error as? SimulatorFailure
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

    @Test("Strict: one token per client id per 7 days; the 429 says when the next is possible; after the window, the same account")
    func onePerClient() async throws {
        let simulation = frozenSimulation()
        let first = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        let refused = await failure { _ = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1") }
        guard case .http(429, let refusal) = refused else {
            Issue.record("expected a 429, got \(String(describing: refused))")
            return
        }
        #expect(refusal.contains("1 token per client id per 7 days"))
        #expect(refusal.contains("the next is possible at " + ISO8601.string(from: simulation.clock.now.addingTimeInterval(7 * 86400))))
        // The token in hand keeps working.
        _ = try await simulation.credits(token: first.token)
        try await simulation.advanceClock(by: 7 * 86400)
        let second = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        #expect(second.token != first.token && second.userID == first.userID)
    }

    @Test("Lenient re-issue: a fresh token for the same account within the per-client limit")
    func reissue() async throws {
        let simulation = frozenSimulation { $0.tokensPerClient = 3; $0.tokenClientWindowSeconds = 3600 }
        let a = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        let b = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        #expect(a.token != b.token && a.userID == b.userID)
        _ = try await simulation.credits(token: a.token)
        _ = try await simulation.credits(token: b.token)
        _ = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        await expectFailure(.http(429, "")) { _ = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1") }
        try await simulation.advanceClock(by: 3600)
        _ = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
    }

    @Test("Per-IP limits: 5 new accounts an hour, 10 in 7 days (429)")
    func rateLimits() async throws {
        let simulation = frozenSimulation()
        for index in 0..<5 { _ = try await simulation.issueToken(clientID: "c\(index)", clientIP: "9.9.9.9") }
        await expectFailure(.http(429, "")) { _ = try await simulation.issueToken(clientID: "c5", clientIP: "9.9.9.9") }
        // Another IP is not limited.
        _ = try await simulation.issueToken(clientID: "other", clientIP: "8.8.8.8")
        try await simulation.advanceClock(by: 3601)
        for index in 5..<10 { _ = try await simulation.issueToken(clientID: "c\(index)", clientIP: "9.9.9.9") }
        try await simulation.advanceClock(by: 3601)
        await expectFailure(.http(429, "")) { _ = try await simulation.issueToken(clientID: "c10", clientIP: "9.9.9.9") }
    }

    @Test("Anonymous tokens carry read, write, upload (strict) and may still render; lenient grants *")
    func anonymousScopes() async throws {
        let simulation = frozenSimulation()
        let (token, _, _) = try await signedIn(simulation)
        #expect(try await simulation.tokenScopes(token) == [.read, .write, .upload])
        _ = try await simulation.authenticateForTest(token, scope: .render)
        simulation.patchProfileUnchecked { $0.anonymousMayRender = false }
        await expectFailure(.http(403, "")) { _ = try await simulation.authenticateForTest(token, scope: .render) }
        let lenient = frozenSimulation { $0 = try! BehaviourProfile.shipped("lenient") }
        let (other, _, _) = try await signedIn(lenient)
        #expect(try await lenient.tokenScopes(other) == [.all])
    }

    @Test("Attribution: strict asks for it on every call (1001 that names the headers; the token stays valid), export gets 402; lenient only on export")
    func attributionRule() async throws {
        let simulation = frozenSimulation()
        let (token, _, session) = try await signedIn(simulation)
        let refused = await failure { _ = try await simulation.credits(token: token, missingAttribution: ["X-Skill-Source"]) }
        guard case .code(.tokenInvalid, let said) = refused else {
            Issue.record("expected a 1001, got \(String(describing: refused))")
            return
        }
        #expect(said.contains("missing attribution headers: X-Skill-Source") && said.contains("the token itself is valid"))
        await expectFailure(.code(.tokenInvalid, "")) {
            _ = try await simulation.state(token: token, missingAttribution: attribution, userPath: "me", sessionID: session)
        }
        _ = try await simulation.credits(token: token)
        simulation.patchProfileUnchecked { $0.attributionRequired = .export }
        _ = try await simulation.credits(token: token, missingAttribution: attribution)
        simulation.patchProfileUnchecked { $0.attributionRequired = .none }
        _ = try await simulation.credits(token: token, missingAttribution: attribution)
    }

    @Test("Claim tokens: clm_, 7 days, reusable, bound to the session's task; no API access; the link never holds the user token")
    func claimTokens() async throws {
        let simulation = frozenSimulation()
        let token = try await simulation.issueToken(clientID: "c", clientIP: "1.1.1.1")
        let session = try await simulation.createSession(token: token.token, userPath: "me", request: .init())
        let claim = try await simulation.claimToken(token: token.token, taskID: session.taskID, sessionID: session.sessionID)
        #expect(claim.claimToken.hasPrefix("clm_") && claim.expiresIn == 604_800)
        #expect(!claim.link().contains(token.token))
        let opened = try await simulation.claim(claim.claimToken)
        #expect(opened["session_id"] == .string(session.sessionID) && opened["user_id"] == .string(token.userID))
        _ = try await simulation.claim(claim.claimToken)
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.credits(token: claim.claimToken) }
        await expectFailure(.code(.sessionNotFound, "")) {
            _ = try await simulation.claimToken(token: token.token, taskID: "task_other", sessionID: session.sessionID)
        }
        await expectFailure(.http(404, "")) { _ = try await simulation.claim("clm_unknown") }
        try await simulation.advanceClock(by: 604_800)
        await expectFailure(.http(410, "")) { _ = try await simulation.claim(claim.claimToken) }
    }

    @Test("Token management is for registered accounts: create, list (no values), revoke; scopes no wider than the maker's")
    func registered() async throws {
        let simulation = frozenSimulation()
        let (anonymous, anonymousUser, _) = try await signedIn(simulation)
        let refused = await failure { _ = try await simulation.listAPITokens(token: anonymous) }
        guard case .http(403, let refusal) = refused else {
            Issue.record("expected a 403, got \(String(describing: refused))")
            return
        }
        #expect(refusal.contains("/register?bind=" + anonymousUser))
        let account = try await simulation.registerAccount(credits: 500, freePlan: false)
        let made = try await simulation.createAPIToken(token: account.token, name: "ci", scopes: [.read], expiresInDays: 30)
        let value = try #require(made["token"]?.stringValue)
        let id = try #require(made["id"]?.stringValue)
        _ = try await simulation.credits(token: value)
        await expectFailure(.http(403, "")) { _ = try await simulation.createSession(token: value, userPath: "me", request: .init()) }
        await expectFailure(.http(403, "")) { _ = try await simulation.createAPIToken(token: value, name: "wider", scopes: [.write], expiresInDays: 1) }
        let listed = try await simulation.listAPITokens(token: account.token)
        #expect(listed["tokens"]?.arrayValue?.count == 1 && listed["tokens"]?[0]?["token"] == nil)
        await expectFailure(.http(400, "")) { _ = try await simulation.createAPIToken(token: account.token, name: "", scopes: [.read], expiresInDays: 1) }
        await expectFailure(.http(400, "")) { _ = try await simulation.createAPIToken(token: account.token, name: "x", scopes: [.read], expiresInDays: 0) }
        _ = try await simulation.revokeAPIToken(token: account.token, id: id)
        await expectFailure(.code(.tokenInvalid, "")) { _ = try await simulation.credits(token: value) }
        await expectFailure(.http(404, "")) { _ = try await simulation.revokeAPIToken(token: account.token, id: "tok_nope") }
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
        #expect(state.state.videoInfos.count == 2)
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

extension Simulation {
    /// The scopes a token carries (tests).
    func tokenScopes(_ token: String) throws -> [TokenScope] {
        guard let record = tokens[token] else { throw SimulatorFailure.tokenInvalid("unknown") }
        return record.scopes
    }

    /// `authenticate`, from a test.
    func authenticateForTest(_ token: String, scope: TokenScope) throws -> String {
        try authenticate(token, scope: scope)
    }

    /// Changes the profile in force, unvalidated (tests).
    @discardableResult
    nonisolated func patchProfileUnchecked(_ change: (inout BehaviourProfile) -> Void) -> BehaviourProfile {
        profileStorage.withLock { profile in
            change(&profile)
            return profile
        }
    }
}

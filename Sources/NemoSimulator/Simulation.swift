import Foundation
import NemoCore
import NIOCore
import Synchronization

/// The simulated NemoVideo backend: accounts, tokens, sessions, drafts,
/// uploads, credits, agent operations and renders, under a simulated clock
/// and a seed. No HTTP types: the HTTP front calls these methods and turns
/// their results (or ``SimulatorFailure``s) into responses.
///
/// Time-driven effects (a draft changing when work ends, credits consumed,
/// a render completing) are applied lazily by ``settle()`` from each
/// operation's planned timeline, so they happen whether or not a client is
/// still connected, and the same seed gives the same results whatever the
/// concurrency.
public actor Simulation {
    /// The run seed every random choice derives from.
    public nonisolated let seed: UInt64
    public nonisolated let clock: any SimulationClock
    nonisolated let profileStorage: Mutex<BehaviourProfile>
    /// The behaviour profile in force (readable from any thread).
    public nonisolated var profile: BehaviourProfile { profileStorage.withLock { $0 } }
    /// Armed faults.
    public nonisolated let faults = FaultBoard()
    /// Requests seen.
    public nonisolated let journal = RequestJournal()
    /// The base URL clients reach the server at (for `cdn_url`, `outputUrl`).
    public internal(set) var publicBaseURL = "http://127.0.0.1"

    struct TokenRecord {
        var userID: String
        var expiresAt: Double
        var revoked = false
        var scopes: [TokenScope]
    }

    struct Account {
        var userID: String
        var clientID: String
        var available: Int
        var frozen: Int
        var tokensIssued = 0
        var sessionsCreated = 0
    }

    struct SessionRecord {
        var id: String
        var taskID: String
        var userID: String
        var lastActivity: Double
        var draft = Draft()
        var uploads: [UploadedFile] = []
        var operations: [AgentOperation] = []
        var messageCount = 0
        var canvas = (width: 1920, height: 1080)
    }

    var tokens: [String: TokenRecord] = [:]
    var accounts: [String: Account] = [:]
    var userByClient: [String: String] = [:]
    var newAccountTimesByIP: [String: [Double]] = [:]
    var reissueTimesByClient: [String: [Double]] = [:]
    var sessions: [String: SessionRecord] = [:]
    var renders: [String: RenderJobState] = [:]
    /// Operation effects not yet applied, soonest first.
    var dueEffects = MinHeap<DueEffect>()
    /// Per session, how many operations have effects still to apply.
    var unsettledOperations: [String: Int] = [:]

    /// The event loop the actor runs on when a server hosts it (one of the
    /// server's), so that the polled GETs are answered on it without a
    /// task: directly on this loop, with one hop from the others
    /// (``PolledRouteHandler``). Nil when no loop was given.
    nonisolated let eventLoop: (any EventLoop)?
    private nonisolated let executor: any SerialExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// - Parameters:
    ///   - clock: simulated time (``ManualSimulationClock`` in tests).
    ///   - eventLoop: the loop to run on; without one, a serial queue of its own.
    public init(
        seed: UInt64 = 1, clock: any SimulationClock = ScaledSimulationClock(), profile: BehaviourProfile = BehaviourProfile(),
        eventLoop: (any EventLoop)? = nil
    ) {
        self.eventLoop = eventLoop
        executor = eventLoop?.executor ?? QueueExecutor(label: "nemosim.simulation")
        self.seed = seed
        self.clock = clock
        self.profileStorage = Mutex(profile)
    }

    /// Sets the base URL the server is reachable at (known once it is bound).
    func setPublicBaseURL(_ url: String) {
        publicBaseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    var now: Double { clock.elapsed }

    func date(_ elapsed: Double) -> Date { clock.origin.addingTimeInterval(elapsed) }

    // MARK: Tokens

    /// `POST /api/auth/anonymous-token`. A new client id gets a new anonymous
    /// account with the profile's starting credits (counted against the IP's
    /// limits); a known client id gets a fresh token for the same account.
    public func issueToken(clientID: String?, clientIP: String) throws(SimulatorFailure) -> AnonymousToken {
        settle()
        guard let clientID = clientID?.trimmingCharacters(in: .whitespaces), !clientID.isEmpty else {
            throw .http(400, "X-Client-Id header is required: generate a UUID, send it as X-Client-Id, and retry")
        }
        guard clientID.utf8.count <= 256 else { throw .badRequest("X-Client-Id is longer than 256 bytes") }
        let now = self.now
        let userID: String
        if let existing = userByClient[clientID] {
            var times = reissueTimesByClient[clientID, default: []].filter { now - $0 < 3600 }
            guard times.count < profile.tokenReissuesPerClientPerHour else {
                throw .http(429, "too many tokens for this client id in the last hour: wait 30 s and retry once")
            }
            times.append(now)
            reissueTimesByClient[clientID] = times
            userID = existing
        } else {
            let times = newAccountTimesByIP[clientIP, default: []]
            let lastHour = times.filter { now - $0 < 3600 }.count
            let lastWindow = times.filter { now - $0 < profile.tokenIPWindowSeconds }.count
            guard lastHour < profile.tokensPerIPPerHour else {
                throw .http(429, "too many anonymous tokens from this IP in the last hour (limit \(profile.tokensPerIPPerHour)): wait and retry")
            }
            guard lastWindow < profile.tokensPerIPPerWindow else {
                throw .http(429, "too many anonymous tokens from this IP in the window (limit \(profile.tokensPerIPPerWindow)): wait and retry")
            }
            newAccountTimesByIP[clientIP] = times.filter { now - $0 < profile.tokenIPWindowSeconds } + [now]
            var random = SeededRandom(seed: seed, subject: "user/" + clientID)
            userID = "anon_" + random.hex(12)
            userByClient[clientID] = userID
            accounts[userID] = Account(userID: userID, clientID: clientID, available: profile.initialCredits, frozen: 0)
        }
        accounts[userID]!.tokensIssued += 1
        var random = SeededRandom(seed: seed, subject: "token/" + clientID, index: accounts[userID]!.tokensIssued)
        let token = userTokenPrefix + random.hex(32)
        let expiresAt = now + profile.tokenTTLSeconds
        tokens[token] = TokenRecord(userID: userID, expiresAt: expiresAt, scopes: [.all])
        let balance = accounts[userID]!
        return AnonymousToken(token: token, userID: userID, expiresAt: ISO8601.string(from: date(expiresAt)), credits: balance.available)
    }

    /// Checks a bearer token: 1001 when unknown, expired or revoked; HTTP 403
    /// when it lacks `scope`.
    func authenticate(_ token: String?, scope: TokenScope?) throws(SimulatorFailure) -> String {
        guard let token, !token.isEmpty else {
            throw .tokenInvalid("missing Authorization: Bearer token: get an anonymous token first")
        }
        guard let record = tokens[token] else { throw .tokenInvalid("token invalid: get a new anonymous token with the same client id") }
        if record.revoked { throw .tokenInvalid("token revoked: get a new anonymous token with the same client id") }
        if now >= record.expiresAt { throw .tokenInvalid("token expired: get a new anonymous token with the same client id") }
        if let scope, !scope.isGranted(by: record.scopes) {
            throw .http(403, "token lacks the \(scope.rawValue) scope: get a token with it; retrying does not help")
        }
        return record.userID
    }

    /// Resolves a `{user_id}` path segment: `me`, or the token's own user id.
    func resolveUser(_ userPath: String, token: String?, scope: TokenScope?) throws(SimulatorFailure) -> String {
        let userID = try authenticate(token, scope: scope)
        guard userPath == "me" || userPath == userID else {
            throw .tokenInvalid("user \(userPath) is not the owner of this token: use \"me\" or your own user id")
        }
        return userID
    }

    // MARK: Sessions

    /// `POST /api/tasks/{user_id}/with-session/nemo_agent`.
    public func createSession(token: String?, userPath: String, request: CreateSessionRequest) throws(SimulatorFailure) -> SessionInfo {
        settle()
        let userID = try resolveUser(userPath, token: token, scope: Route.createSession.scope)
        accounts[userID]!.sessionsCreated += 1
        var random = SeededRandom(seed: seed, subject: "session/" + userID, index: accounts[userID]!.sessionsCreated)
        var id = random.decimal(19)
        while sessions[id] != nil { id = random.decimal(19) }
        let taskID = "task_" + random.hex(12)
        sessions[id] = SessionRecord(id: id, taskID: taskID, userID: userID, lastActivity: now)
        return SessionInfo(taskID: taskID, sessionID: id, userID: userID)
    }

    /// The session, owned by `userID`, not idle-expired; refreshes its activity.
    func touchSession(_ sessionID: String, userID: String) throws(SimulatorFailure) -> String {
        guard let lastActivity = sessions[sessionID]?.lastActivity, sessions[sessionID]?.userID == userID else {
            throw .sessionNotFound(sessionID)
        }
        if now - lastActivity > profile.sessionIdleTTLSeconds && unsettledOperations[sessionID] == nil {
            sessions[sessionID] = nil
            throw .sessionNotFound(sessionID)
        }
        sessions[sessionID]!.lastActivity = now
        return sessionID
    }

    /// `GET /api/state/nemo_agent/{user_id}/{session_id}/latest`.
    public func state(token: String?, userPath: String, sessionID: String) throws(SimulatorFailure) -> SessionState {
        settle()
        let userID = try resolveUser(userPath, token: token, scope: Route.state.scope)
        _ = try touchSession(sessionID, userID: userID)
        let session = sessions[sessionID]!
        let videoInfos = session.uploads.compactMap { try? JSONValue(encoding: $0) }
        let canvas: [String: JSONValue] = [
            "width": .number(Double(session.canvas.width)), "height": .number(Double(session.canvas.height)),
            "aspect_ratio": .string(session.canvas.width >= session.canvas.height ? "16:9" : "9:16"),
        ]
        let generated: [JSONValue] = session.operations.filter { $0.kind == .generation && $0.workApplied }.map {
            ["type": "video", "message_index": .number(Double($0.messageIndex)), "status": .string($0.phase(at: now).rawValue)]
        }
        return SessionState(
            draft: session.draft, videoInfos: videoInfos, canvasConfig: canvas, videoAnalyses: [], generatedMedia: generated,
            stages: session.operations.last?.stages(at: now))
    }

    // MARK: Credits

    /// `GET /api/credits/balance/simple`.
    public func credits(token: String?) throws(SimulatorFailure) -> CreditBalance {
        settle()
        let userID = try authenticate(token, scope: Route.credits.scope)
        let account = accounts[userID]!
        return CreditBalance(available: account.available, frozen: account.frozen)
    }

    // MARK: Effects over time

    /// Applies every time-driven effect whose simulated time has come.
    public func settle() {
        let now = self.now
        while let due = dueEffects.min, due.time <= now {
            _ = dueEffects.popMin()
            applyDueEffect(sessionID: due.sessionID, messageIndex: due.messageIndex, now: now)
        }
    }

    /// Applies what is due of one operation, as the operation reports it
    /// (``AgentOperation/advance(to:)``): the draft changes, the second
    /// stage, credits consumed or released.
    private func applyDueEffect(sessionID: String, messageIndex: Int, now: Double) {
        // Operations are appended in message order: index = messageIndex - 1.
        guard sessions[sessionID] != nil, sessions[sessionID]!.operations.indices.contains(messageIndex - 1) else { return }
        let index = messageIndex - 1
        let effects = sessions[sessionID]!.operations[index].advance(to: now)
        guard !effects.isEmpty else { return }
        let operation = sessions[sessionID]!.operations[index]
        let userID = sessions[sessionID]!.userID
        var random = SeededRandom(seed: seed, subject: "draft/" + sessionID, index: operation.messageIndex)
        for effect in effects {
            switch effect {
            case .applyWork:
                switch operation.kind {
                case .generation:
                    let session = sessions[sessionID]!
                    sessions[sessionID]!.draft = DraftEditor.generate(from: session.uploads, message: operation.text, canvas: session.canvas)
                case .edit:
                    DraftEditor.edit(&sessions[sessionID]!.draft, message: operation.text, random: &random)
                case .reply:
                    break
                }
            case .applySecondStage:
                _ = random.next()
                DraftEditor.addMusicAndTitle(to: &sessions[sessionID]!.draft, message: operation.text, random: &random)
            case .failWork:
                break
            case .consumeCredits(let cost):
                consume(cost, userID: userID)
            case .releaseCredits(let cost):
                release(cost, userID: userID)
            }
        }
        if operation.isSettled {
            let open = (unsettledOperations[sessionID] ?? 1) - 1
            unsettledOperations[sessionID] = open > 0 ? open : nil
        }
    }

    /// Schedules an operation's effects (stage 1, and stage 2 of a generation).
    func scheduleEffects(of operation: AgentOperation, sessionID: String) {
        unsettledOperations[sessionID, default: 0] += 1
        dueEffects.insert(DueEffect(time: operation.startedAt + operation.workDuration, sessionID: sessionID, messageIndex: operation.messageIndex))
        if let end = operation.secondStageEnd, !operation.failed {
            dueEffects.insert(DueEffect(time: operation.startedAt + end, sessionID: sessionID, messageIndex: operation.messageIndex))
        }
    }

    func freeze(_ cost: Int, userID: String) {
        accounts[userID]!.available -= cost
        accounts[userID]!.frozen += cost
    }

    func consume(_ cost: Int, userID: String) {
        accounts[userID]!.frozen -= cost
    }

    func release(_ cost: Int, userID: String) {
        accounts[userID]!.frozen -= cost
        accounts[userID]!.available += cost
    }
}

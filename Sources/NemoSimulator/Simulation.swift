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
    public nonisolated let journal: RequestJournal
    /// The base URL clients reach the server at (for `cdn_url`, `outputUrl`).
    public internal(set) var publicBaseURL = "http://127.0.0.1"

    struct TokenRecord {
        var userID: String
        var expiresAt: Double
        var revoked = false
        var scopes: [TokenScope]
        /// An anonymous token (issued for a client id).
        var anonymous: Bool
        /// The id of a token made through `/api/tokens`.
        var apiTokenID: String?
    }

    /// A claim token (`clm_`): opens one session's project in a browser, no API access.
    struct ClaimRecord {
        var userID: String
        var sessionID: String
        var taskID: String
        var expiresAt: Double
    }

    /// A token made through `/api/tokens`, as that API lists it.
    struct APITokenRecord {
        var id: String
        var userID: String
        var name: String
        var token: String
        var scopes: [TokenScope]
        var createdAt: Double
        var expiresAt: Double
        var revoked = false
    }

    struct Account {
        var userID: String
        /// The client id an anonymous account was made for.
        var clientID: String?
        var available: Int
        var frozen: Int
        /// A registered account (made through the admin API), not an anonymous one.
        var registered = false
        /// A free plan cannot export (HTTP 402).
        var freePlan = false
        var tokensIssued = 0
        var sessionsCreated = 0
        /// Sessions held now (idle-expired ones are evicted).
        var liveSessions = 0
        /// Renders held now (finished ones go after their retention).
        var heldRenders = 0
    }

    /// How a session's editing charge stands (`edit_charge: per_session`).
    enum EditChargeState: Sendable, Hashable {
        case none
        /// An edit carrying the charge is running (its message index).
        case pending(Int)
        case charged
    }

    struct SessionRecord {
        var id: String
        var taskID: String
        var taskName: String
        var userID: String
        var lastActivity: Double
        var draft = Draft()
        var uploads: [UploadedFile] = []
        var operations: [AgentOperation] = []
        var messageCount = 0
        var canvas = Canvas.landscape
        var editCharge = EditChargeState.none
    }

    var tokens: [String: TokenRecord] = [:]
    /// The journal note of the event loop's answer being made (set around
    /// it, with no suspension in between), so that path needs no task-local.
    var polledNote: JournalNote?
    /// What the request being handled learns goes here (``JournalNote``).
    var journalNote: JournalNote? { polledNote ?? JournalNote.current }
    var claims: [String: ClaimRecord] = [:]
    var apiTokens: [String: APITokenRecord] = [:]
    var accounts: [String: Account] = [:]
    var userByClient: [String: String] = [:]
    var newAccountTimesByIP: [String: [Double]] = [:]
    var issueTimesByClient: [String: [Double]] = [:]
    var sessions: [String: SessionRecord] = [:]
    var renders: [String: RenderJobState] = [:]
    /// Operation effects not yet applied, soonest first.
    var dueEffects = MinHeap<DueEffect>()
    /// Per session, how many operations have effects still to apply.
    var unsettledOperations: [String: Int] = [:]
    /// When entries of the tables above may be evicted (Simulation+Eviction).
    var expiries = MinHeap<Expiry>()
    /// The renders of each session (the queue is computed from these only).
    var rendersBySession: [String: Set<String>] = [:]

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
        journal = RequestJournal(capacity: profile.journalEntries, maximumBytes: profile.journalBytes, seed: seed)
    }

    /// Whether handed-out URLs follow the request's `Host` (a server bound
    /// to every address, with no public URL given).
    var publicBaseFromHost = false

    /// Sets the base URL the server is reachable at (known once it is bound).
    func setPublicBaseURL(_ url: String, fromHost: Bool = false) {
        publicBaseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        publicBaseFromHost = fromHost
    }

    /// The base of a URL handed out in answer to the current request:
    /// ``publicBaseURL``, or `http://HOST` from the request's `Host` when
    /// ``publicBaseFromHost`` (and the Host is a plain host[:port]).
    var advertisedBaseURL: String {
        guard publicBaseFromHost, let host = journalNote?.host, Self.isPlainHostAndPort(host) else { return publicBaseURL }
        return "http://" + host
    }

    /// `name[:port]` or `[ipv6][:port]`: a DNS name or IPv4 address (letters,
    /// digits, `.`, `-`), or hex digits, `:` and `.` in brackets; a port of
    /// 1 to 5 digits up to 65535. Anything else is not echoed into a URL.
    static func isPlainHostAndPort(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 262 else { return false }
        var name = Substring(text)
        var port: Substring?
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            let inside = name[name.index(after: name.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            let rest = name[name.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { return false }
                port = rest.dropFirst()
            }
            name = ""
        } else if let colon = name.firstIndex(of: ":") {
            port = name[name.index(after: colon)...]
            name = name[..<colon]
            guard !name.isEmpty else { return false }
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else { return false }
        if let port {
            guard (1...5).contains(port.count), port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port), number <= 65535 else { return false }
        }
        return true
    }

    var now: Double { clock.elapsed }

    func date(_ elapsed: Double) -> Date { clock.origin.addingTimeInterval(elapsed) }

    // MARK: Sessions

    /// `POST /api/tasks/{user_id}/with-session/nemo_agent`.
    public func createSession(
        token: String?, missingAttribution: [String] = [], userPath: String, request: CreateSessionRequest
    ) throws(SimulatorFailure) -> SessionInfo {
        settle()
        let userID = try resolveUser(userPath, token: token, scope: Route.createSession.scope, missingAttribution: missingAttribution)
        guard accounts[userID]!.liveSessions < profile.maxSessionsPerAccount else {
            throw .http(
                429,
                "this account holds \(accounts[userID]!.liveSessions) sessions, its limit (\(profile.maxSessionsPerAccount)): reuse a session; idle ones expire after \(spelledOut(seconds: profile.sessionIdleTTLSeconds))")
        }
        accounts[userID]!.sessionsCreated += 1
        var random = SeededRandom(seed: seed, subject: "session/" + userID, index: accounts[userID]!.sessionsCreated)
        var id = random.decimal(19)
        while sessions[id] != nil { id = random.decimal(19) }
        let taskID = "task_" + random.hex(12)
        sessions[id] = SessionRecord(id: id, taskID: taskID, taskName: String(request.taskName.prefix(200)), userID: userID, lastActivity: now)
        accounts[userID]!.liveSessions += 1
        scheduleExpiry(.session, id, at: now + profile.sessionIdleTTLSeconds)
        journalNote?.session(id)
        return SessionInfo(taskID: taskID, sessionID: id, userID: userID)
    }

    /// The session, owned by `userID`, not idle-expired; refreshes its activity.
    func touchSession(_ sessionID: String, userID: String) throws(SimulatorFailure) -> String {
        journalNote?.session(sessionID)
        guard let lastActivity = sessions[sessionID]?.lastActivity, sessions[sessionID]?.userID == userID else {
            throw .sessionNotFound(sessionID)
        }
        if now - lastActivity > profile.sessionIdleTTLSeconds && unsettledOperations[sessionID] == nil {
            removeSession(sessionID)
            throw .sessionNotFound(sessionID)
        }
        sessions[sessionID]!.lastActivity = now
        return sessionID
    }

    /// `GET /api/state/nemo_agent/{user_id}/{session_id}/latest`: the state,
    /// with the session's ids beside it.
    public func state(token: String?, missingAttribution: [String] = [], userPath: String, sessionID: String) throws(SimulatorFailure) -> StateResponse {
        settle()
        let userID = try resolveUser(userPath, token: token, scope: Route.state.scope, missingAttribution: missingAttribution)
        _ = try touchSession(sessionID, userID: userID)
        let session = sessions[sessionID]!
        let videoInfos = session.uploads.compactMap { try? JSONValue(encoding: $0) }
        let canvas: [String: JSONValue] = [
            "width": .number(Double(session.canvas.width)), "height": .number(Double(session.canvas.height)),
            "aspect_ratio": .string(session.canvas.aspectRatio),
        ]
        let generated: [JSONValue] = session.operations.filter { $0.kind == .generation && $0.workApplied }.map {
            ["type": "video", "message_index": .number(Double($0.messageIndex)), "status": .string($0.phase(at: now).rawValue)]
        }
        let state = SessionState(
            draft: session.draft, videoInfos: videoInfos, canvasConfig: canvas, videoAnalyses: [], generatedMedia: generated,
            stages: session.operations.last?.stages(at: now))
        return StateResponse(state: state, sessionID: session.id, taskID: session.taskID, taskName: session.taskName, userID: session.userID)
    }

    // MARK: Credits

    /// `GET /api/credits/balance/simple`.
    public func credits(token: String?, missingAttribution: [String] = []) throws(SimulatorFailure) -> CreditBalance {
        settle()
        let userID = try authenticate(token, scope: Route.credits.scope, missingAttribution: missingAttribution)
        let account = accounts[userID]!
        return CreditBalance(available: account.available, frozen: account.frozen)
    }

    // MARK: Effects over time

    /// Applies every time-driven effect whose simulated time has come.
    public func settle() {
        evictExpired()
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
        let chargesSession = operation.kind == .edit && operation.cost > 0
        for effect in effects {
            switch effect {
            case .applyWork:
                switch operation.kind {
                case .generation:
                    if let aspect = operation.intent.aspect { sessions[sessionID]!.canvas = aspect }
                    let session = sessions[sessionID]!
                    sessions[sessionID]!.draft = DraftEditor.generate(
                        from: session.uploads, intent: operation.intent, message: operation.text, canvas: session.canvas)
                case .edit:
                    sessions[sessionID]!.operations[index].outcome = DraftEditor.edit(&sessions[sessionID]!.draft, intent: operation.intent, random: &random)
                case .reply:
                    break
                }
            case .applySecondStage:
                _ = random.next()
                DraftEditor.addMusicAndTitle(to: &sessions[sessionID]!.draft, intent: operation.intent, message: operation.text, random: &random)
            case .failWork:
                break
            case .consumeCredits(let cost):
                consume(cost, userID: userID)
                if chargesSession { sessions[sessionID]!.editCharge = .charged }
            case .releaseCredits(let cost):
                release(cost, userID: userID)
                if chargesSession, sessions[sessionID]!.editCharge == .pending(messageIndex) { sessions[sessionID]!.editCharge = .none }
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

import Foundation
import NemoCore
import ServerSentEvents

/// The NemoVideo API, typed: tokens, sessions, uploads, messages (as a
/// stream of events), state, credits, render, download. It applies the
/// documented recovery rules (``RecoveryPolicy``), each of which can be
/// turned off, and reports what it did on its own through `onAction`.
public actor NemoClient {
    public nonisolated let configuration: ClientConfiguration
    public nonisolated let transport: any HTTPTransport
    public nonisolated let policy: RecoveryPolicy
    /// The clock waits run on; replaced by ``discoverTimeScale()`` when the
    /// server announces a time scale.
    public private(set) var clock: any ClientClock
    /// The current token (issued or renewed). Never print or log it.
    public private(set) var token: String?
    /// The current session, once created (or given).
    public var sessionID: String?
    /// The current session's task, once known.
    public private(set) var taskID: String?
    /// What the server announced of its own rules (nothing, on production).
    public private(set) var announced = AnnouncedRules()
    /// The user id of the current token, when known.
    public private(set) var userID: String?
    private let onAction: @Sendable (ClientAction) -> Void
    /// Whether the time scale was asked for (or a clock given): the first
    /// wait asks, so that a command that never waits sends no extra request.
    private var scaleKnown: Bool

    public init(
        configuration: ClientConfiguration, transport: (any HTTPTransport)? = nil, policy: RecoveryPolicy = RecoveryPolicy(),
        clock: (any ClientClock)? = nil, sessionID: String? = nil, announced: AnnouncedRules = AnnouncedRules(),
        onAction: @escaping @Sendable (ClientAction) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.announced = announced
        self.transport = transport ?? CurlTransport(options: configuration.transport)
        self.policy = policy
        self.clock = clock ?? ScaledClock()
        self.scaleKnown = clock != nil
        self.token = configuration.token
        self.sessionID = sessionID
        self.onAction = onAction
    }

    /// Asks the server for its time scale and rules (the simulator announces
    /// them at `/_nemosim/health`; production has none, which means time
    /// scale 1 and the vendor's rules), and scales every wait by the scale.
    /// Returns the scale in force.
    @discardableResult
    public func discoverTimeScale() async -> Double {
        scaleKnown = true
        let request = ClientRequest(method: "GET", url: configuration.baseURL + "/_nemosim/health", timeout: 10)
        guard let response = try? await transport.send(request), response.status == 200, let health = try? JSONValue.parse(response.body),
            let scale = health["time_scale"]?.doubleValue, (0.001...1_000_000).contains(scale)
        else { return 1 }
        clock = ScaledClock(timeScale: scale)
        announced = AnnouncedRules(health: health)
        return scale
    }

    nonisolated func record(_ action: ClientAction) { onAction(action) }

    func wait(_ seconds: Double, reason: String) async throws {
        // A simulator may run faster than real time: ask before the first wait.
        if !scaleKnown { await discoverTimeScale() }
        record(.waited(seconds: seconds, reason: reason))
        try await clock.sleep(seconds: seconds)
    }

    // MARK: Requests

    /// The headers every call sends: attribution, and the token when `auth`.
    public func headers(auth: Bool = true, extra: [(String, String)] = []) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = configuration.attribution.pairs
        if auth, let token { headers.append((NemoHeader.authorization, "Bearer \(token)")) }
        for (name, value) in extra { headers.append((name, value)) }
        return headers
    }

    func url(_ endpoint: Endpoint) -> String { configuration.baseURL + endpoint.path }

    func requireSession() throws -> String {
        guard let sessionID else {
            throw NemoError(kind: .usage, message: "no session: create one first (nemosim session, or --session ID)")
        }
        return sessionID
    }

    /// Sends a request built by `build` (rebuilt on each try, so a renewed
    /// token or session is used) and carries out the recovery rules'
    /// actions (``Recovery``) until the answer stands.
    func perform(
        _ call: Recovery.Call, progress: (@Sendable (TransferProgress) -> Void)? = nil, _ build: () throws -> ClientRequest
    ) async throws -> ClientResponse {
        var recovery = Recovery(policy: policy, call: call)
        while true {
            let request = try build()
            let response: ClientResponse
            do {
                response = try await transport.send(request, progress: progress)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw NemoError(kind: .transport, message: "\(request.method) \(request.url): \(error)")
            }
            let action = recovery.next(after: .answered(status: response.status, code: Self.envelopeCode(response)))
            guard try await carryOut(action) else { return response }
        }
    }

    /// Carries out a recovery action that asks for the call to be sent
    /// again (a new token, a new session, a wait); false for any other.
    func carryOut(_ action: Recovery.Action) async throws -> Bool {
        switch action {
        case .renewToken:
            // The 1001 may not be the token's fault (strict: missing
            // attribution headers), and a new one may be refused (one per
            // client id per 7 days): then the 1001 stands, with its message.
            do {
                _ = try await issueToken()
            } catch let error as NemoError {
                record(.couldNotRenewToken(reason: error.message))
                return false
            }
            record(.renewedToken)
            record(.retried(reason: "1001"))
        case .newSession:
            let session = try await createSession()
            record(.createdSession(session.sessionID))
            record(.retried(reason: "1002"))
        case .waitAndRetry(let seconds, let reason):
            try await wait(seconds, reason: reason)
            record(.retried(reason: "429"))
        default:
            return false
        }
        return true
    }

    /// The envelope code of a JSON response, if it has one.
    static func envelopeCode(_ response: ClientResponse) -> ErrorCode? {
        guard response.body.first == UInt8(ascii: "{") else { return nil }
        struct Probe: Decodable { var code: ErrorCode? }
        return (try? JSONDecoder().decode(Probe.self, from: response.body))?.code
    }

    /// Decodes a `code`/`message`/`data` envelope, or throws the API's
    /// error (which keeps the answer it came in).
    func decodeEnvelope<T: Decodable & Sendable>(_ type: T.Type, _ response: ClientResponse, what: String) throws -> Answered<T> {
        let envelope: Envelope<T>
        do {
            envelope = try JSONDecoder().decode(Envelope<T>.self, from: response.body)
        } catch {
            if !(200..<300).contains(response.status) {
                throw NemoError(kind: .api, httpStatus: response.status, message: Self.bodySummary(response), response: response)
            }
            throw NemoError(
                kind: .protocolViolation, httpStatus: response.status, message: "\(what): the response is not the documented envelope: \(error)",
                response: response)
        }
        guard envelope.isSuccess, (200..<300).contains(response.status) else {
            throw NemoError(
                kind: .api, code: envelope.code, httpStatus: response.status,
                message: envelope.message.isEmpty ? envelope.code.meaning : envelope.message, response: response)
        }
        guard let data = envelope.data else {
            throw NemoError(kind: .protocolViolation, httpStatus: response.status, message: "\(what): the envelope has no data", response: response)
        }
        return Answered(value: data, response: response)
    }

    static func bodySummary(_ response: ClientResponse) -> String {
        if let json = try? JSONValue.parse(response.body), let message = json["message"]?.stringValue ?? json["error"]?.stringValue {
            return message
        }
        let text = String(decoding: response.body.prefix(200), as: UTF8.self)
        return text.isEmpty ? "HTTP \(response.status)" : text
    }

    func jsonBody<T: Encodable>(_ value: T) throws -> HTTPRequestBody {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return .data(try encoder.encode(value), contentType: "application/json")
    }

    /// Runs a call and returns its value with the answer it came in.
    public func answer<Value>(_ call: NemoCall<Value>) async throws -> Answered<Value> {
        try await call.perform(self)
    }

    // MARK: Tokens and sessions

    /// `POST /api/auth/anonymous-token` with this client's id; keeps the token.
    @discardableResult
    public func issueToken() async throws -> AnonymousToken { try await answer(.issueToken).value }

    func answerIssueToken() async throws -> Answered<AnonymousToken> {
        let request = ClientRequest(
            method: "POST", url: url(.anonymousToken), headers: headers(auth: false, extra: [(NemoHeader.clientID, configuration.clientID)]))
        let response = try await perform(.request(sessionBound: false, issuesToken: true)) { request }
        let issued = try decodeEnvelope(AnonymousToken.self, response, what: "anonymous token")
        token = issued.value.token
        userID = issued.value.userID
        return issued
    }

    /// Issues a token unless one is configured.
    func ensureToken() async throws {
        if token == nil { _ = try await issueToken() }
    }

    /// `POST /api/tasks/me/with-session/nemo_agent`; becomes the current session.
    @discardableResult
    public func createSession(taskName: String = "project", language: String = "") async throws -> SessionInfo {
        try await answer(.createSession(taskName: taskName, language: language)).value
    }

    func answerCreateSession(taskName: String, language: String) async throws -> Answered<SessionInfo> {
        try await ensureToken()
        let body = try jsonBody(CreateSessionRequest(taskName: taskName, language: language))
        let response = try await perform(.request(sessionBound: false, issuesToken: false)) {
            ClientRequest(method: "POST", url: url(.createSession()), headers: headers(), body: body)
        }
        let session = try decodeEnvelope(SessionInfo.self, response, what: "session")
        sessionID = session.value.sessionID
        taskID = session.value.taskID
        if userID == nil { userID = session.value.userID }
        return session
    }

    /// `POST /api/auth/claim-token`: a claim token for the current session,
    /// whose link (``ClaimToken/link(webAppURL:)``) opens the project in the
    /// web app. Never a bearer token in a URL.
    public func claimToken() async throws -> ClaimToken {
        try await ensureToken()
        let session = try requireSession()
        if taskID == nil { _ = try await state() }
        guard let taskID else {
            throw NemoError(kind: .protocolViolation, message: "the session's task id is unknown (create the session here, or the state does not give it)")
        }
        let body = try jsonBody(ClaimTokenRequest(taskID: taskID, sessionID: session))
        let response = try await perform(.request(sessionBound: false, issuesToken: false)) {
            ClientRequest(method: "POST", url: url(.claimToken), headers: headers(), body: body)
        }
        return try decodeEnvelope(ClaimToken.self, response, what: "claim token").value
    }

    // MARK: State and credits

    /// `GET /api/state/nemo_agent/me/{session}/latest`.
    public func state() async throws -> SessionState { try await answer(.state).value }

    func answerState() async throws -> Answered<SessionState> {
        try await ensureToken()
        let response = try await perform(.request(sessionBound: true, issuesToken: false)) {
            ClientRequest(method: "GET", url: url(.state(sessionID: try requireSession())), headers: headers())
        }
        let answered = try decodeEnvelope(StateResponse.self, response, what: "state")
        if let task = answered.value.taskID, answered.value.sessionID == nil || answered.value.sessionID == sessionID { taskID = task }
        return Answered(value: answered.value.state, response: response)
    }

    /// `GET /api/credits/balance/simple`.
    public func credits() async throws -> CreditBalance { try await answer(.credits).value }

    func answerCredits() async throws -> Answered<CreditBalance> {
        try await ensureToken()
        let response = try await perform(.request(sessionBound: false, issuesToken: false)) {
            ClientRequest(method: "GET", url: url(.credits), headers: headers())
        }
        return try decodeEnvelope(CreditBalance.self, response, what: "credits")
    }

    // MARK: Uploads

    /// Uploads files as multipart parts named `files`, streamed from disk.
    public func upload(files: [URL], progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws -> UploadResult {
        try await answer(.upload(files: files, progress: progress)).value
    }

    func answerUpload(files: [URL], progress: (@Sendable (TransferProgress) -> Void)?) async throws -> Answered<UploadResult> {
        try await ensureToken()
        for file in files where !FileManager.default.isReadableFile(atPath: file.path) {
            throw NemoError(kind: .usage, message: "cannot read \(file.path): check the path")
        }
        let parts = files.map {
            MultipartPart(name: "files", filename: $0.lastPathComponent, contentType: Self.contentType(of: $0.lastPathComponent), source: .file(path: $0.path))
        }
        let response = try await perform(.request(sessionBound: true, issuesToken: false), progress: progress) {
            ClientRequest(method: "POST", url: url(.upload(sessionID: try requireSession())), headers: headers(), body: .multipart(parts), timeout: 3600)
        }
        return try decodeEnvelope(UploadResult.self, response, what: "upload")
    }

    /// Uploads media by URL (`{"urls": [...], "source_type": "url"}`).
    public func upload(urls: [String]) async throws -> UploadResult { try await answer(.upload(urls: urls)).value }

    func answerUpload(urls: [String]) async throws -> Answered<UploadResult> {
        try await ensureToken()
        let body = try jsonBody(URLUploadRequest(urls: urls))
        let response = try await perform(.request(sessionBound: true, issuesToken: false)) {
            ClientRequest(method: "POST", url: url(.upload(sessionID: try requireSession())), headers: headers(), body: body)
        }
        return try decodeEnvelope(UploadResult.self, response, what: "upload")
    }

    /// The media type for a file name's extension (application/octet-stream when unknown).
    public static func contentType(of filename: String) -> String {
        let ext = (filename as NSString).pathExtension.lowercased()
        switch ext {
        case "mp4": return "video/mp4"
        case "mov": return "video/quicktime"
        case "webm": return "video/webm"
        case "mkv": return "video/x-matroska"
        case "avi": return "video/x-msvideo"
        case "jpg", "jpeg": return "image/jpeg"
        case "png": return "image/png"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "mp3": return "audio/mpeg"
        case "wav": return "audio/wav"
        case "m4a": return "audio/mp4"
        case "aac": return "audio/aac"
        default: return "application/octet-stream"
        }
    }
}

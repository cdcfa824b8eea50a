import Foundation

/// Body of `POST /api/tasks/{user_id}/with-session/nemo_agent`.
public struct CreateSessionRequest: Sendable, Hashable, Codable {
    public var taskName: String
    /// May be empty.
    public var language: String

    public init(taskName: String = "project", language: String = "") {
        self.taskName = taskName
        self.language = language
    }

    private enum CodingKeys: String, CodingKey { case taskName = "task_name", language }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        taskName = container.lenientString(.taskName) ?? "project"
        language = container.lenientString(.language) ?? ""
    }
}

/// `data` of session creation.
public struct SessionInfo: Sendable, Hashable, Codable {
    /// `task_xxx`.
    public var taskID: String
    /// A long decimal string, e.g. `5529798706024415232` (read from a number too).
    public var sessionID: String
    public var userID: String

    public init(taskID: String, sessionID: String, userID: String) {
        self.taskID = taskID
        self.sessionID = sessionID
        self.userID = userID
    }

    private enum CodingKeys: String, CodingKey { case taskID = "task_id", sessionID = "session_id", userID = "user_id" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let session = container.lenientString(.sessionID) else {
            throw DecodingError.keyNotFound(CodingKeys.sessionID, .init(codingPath: container.codingPath, debugDescription: "session_id missing"))
        }
        sessionID = session
        taskID = container.lenientString(.taskID) ?? ""
        userID = container.lenientString(.userID) ?? ""
    }
}

/// Body of `POST /api/auth/claim-token`.
public struct ClaimTokenRequest: Sendable, Hashable, Codable {
    public var taskID: String
    public var sessionID: String

    public init(taskID: String, sessionID: String) {
        self.taskID = taskID
        self.sessionID = sessionID
    }

    private enum CodingKeys: String, CodingKey { case taskID = "task_id", sessionID = "session_id" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let task = container.lenientString(.taskID), let session = container.lenientString(.sessionID) else {
            throw DecodingError.keyNotFound(CodingKeys.taskID, .init(codingPath: [], debugDescription: "task_id and session_id are required"))
        }
        taskID = task
        sessionID = session
    }
}

/// `data` of `POST /api/auth/claim-token`: a `clm_` token, reusable until it
/// expires, that opens the session's project in the web app and has no API
/// access. Never put the `nmv_usr_` token in a URL: use this.
public struct ClaimToken: Sendable, Hashable, Codable {
    public var claimToken: String
    /// Seconds (604800: 7 days).
    public var expiresIn: Int

    public init(claimToken: String, expiresIn: Int) {
        self.claimToken = claimToken
        self.expiresIn = expiresIn
    }

    private enum CodingKeys: String, CodingKey { case claimToken = "claim_token", expiresIn = "expires_in" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        claimToken = try container.decode(String.self, forKey: .claimToken)
        expiresIn = container.lenientInt(.expiresIn) ?? 0
    }

    /// The web app link: `<web>/workspace/claim?ct=<claim token>`.
    public func link(webAppURL: String = Endpoint.webAppURL) -> String {
        webAppURL + "/workspace/claim?ct=" + Route.encode(claimToken)
    }
}

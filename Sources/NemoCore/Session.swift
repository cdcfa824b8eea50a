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

    /// The web app link that lets a user claim this session:
    /// `<web>/workspace/claim?task=..&session=..&skill_name=..&skill_version=..&skill_source=..`.
    public func claimLink(webAppURL: String = Endpoint.webAppURL, attribution: AttributionHeaders) -> String {
        let query: [(String, String)] = [
            ("task", taskID), ("session", sessionID), ("skill_name", attribution.source),
            ("skill_version", attribution.version), ("skill_source", attribution.platform),
        ]
        return webAppURL + "/workspace/claim?" + query.map { "\($0.0)=\(Route.encode($0.1))" }.joined(separator: "&")
    }
}

/// Body of `POST /run_sse` (the shape of Google ADK's `/run_sse`).
public struct RunSSERequest: Sendable, Hashable, Codable {
    public struct Message: Sendable, Hashable, Codable {
        public struct Part: Sendable, Hashable, Codable {
            public var text: String?
            public init(text: String?) { self.text = text }
        }
        public var parts: [Part]
        public var role: String?
        public init(parts: [Part], role: String? = nil) {
            self.parts = parts
            self.role = role
        }
        /// The text of all parts, joined with newlines.
        public var text: String { parts.compactMap(\.text).joined(separator: "\n") }
    }

    public var appName: String
    public var userID: String
    public var sessionID: String
    public var newMessage: Message

    public init(text: String, sessionID: String, userID: String = "me", appName: String = Endpoint.appName) {
        self.appName = appName
        self.userID = userID
        self.sessionID = sessionID
        self.newMessage = Message(parts: [.init(text: text)], role: "user")
    }

    private enum CodingKeys: String, CodingKey {
        case appName = "app_name", userID = "user_id", sessionID = "session_id", newMessage = "new_message"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        appName = container.lenientString(.appName) ?? Endpoint.appName
        userID = container.lenientString(.userID) ?? "me"
        sessionID = try container.lenientString(.sessionID)
            ?? { throw DecodingError.keyNotFound(CodingKeys.sessionID, .init(codingPath: [], debugDescription: "session_id missing")) }()
        newMessage = try container.decode(Message.self, forKey: .newMessage)
    }
}

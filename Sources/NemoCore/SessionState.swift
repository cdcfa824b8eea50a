/// `data` of `GET /api/state/nemo_agent/{user_id}/{session_id}/latest`:
/// `{"session_id", "task_id", "task_name", "user_id", "state": {...}}`.
public struct StateResponse: Sendable, Hashable, Codable {
    public var state: SessionState
    public var sessionID: String?
    public var taskID: String?
    public var taskName: String?
    public var userID: String?

    public init(state: SessionState, sessionID: String? = nil, taskID: String? = nil, taskName: String? = nil, userID: String? = nil) {
        self.state = state
        self.sessionID = sessionID
        self.taskID = taskID
        self.taskName = taskName
        self.userID = userID
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        // Tolerate a state sent without the `state` wrapper.
        if let state = container.lenient(SessionState.self, AnyCodingKey("state")) {
            self.state = state
        } else {
            self.state = try SessionState(from: decoder)
        }
        sessionID = container.lenientString(AnyCodingKey("session_id"))
        taskID = container.lenientString(AnyCodingKey("task_id"))
        taskName = container.lenientString(AnyCodingKey("task_name"))
        userID = container.lenientString(AnyCodingKey("user_id"))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encodeIfPresent(sessionID, forKey: AnyCodingKey("session_id"))
        try container.encodeIfPresent(taskID, forKey: AnyCodingKey("task_id"))
        try container.encodeIfPresent(taskName, forKey: AnyCodingKey("task_name"))
        try container.encodeIfPresent(userID, forKey: AnyCodingKey("user_id"))
        try container.encode(state, forKey: AnyCodingKey("state"))
    }
}

/// The progress of one stage of an agent operation (the simulator reports
/// these under `stages`; production may not).
public struct StageProgress: Sendable, Hashable, Codable {
    /// e.g. `edit`, `post_production`.
    public var name: String
    /// `pending`, `running`, `completed`, `failed`.
    public var status: String

    public init(name: String, status: String) {
        self.name = name
        self.status = status
    }

    public var isCompleted: Bool { status == "completed" }
}

/// The state of a session.
public struct SessionState: Sendable, Hashable, Codable {
    public var draft: Draft?
    /// Uploaded and generated assets.
    public var videoInfos: [JSONValue]
    /// width, height, aspect ratio.
    public var canvasConfig: [String: JSONValue]?
    public var videoAnalyses: [JSONValue]
    public var generatedMedia: [JSONValue]
    /// Stage progress of the latest operation, when the server reports it.
    public var stages: [StageProgress]?
    /// Members this model does not know, kept.
    public var extras: [String: JSONValue]

    public init(
        draft: Draft?, videoInfos: [JSONValue] = [], canvasConfig: [String: JSONValue]? = nil,
        videoAnalyses: [JSONValue] = [], generatedMedia: [JSONValue] = [], stages: [StageProgress]? = nil,
        extras: [String: JSONValue] = [:]
    ) {
        self.draft = draft
        self.videoInfos = videoInfos
        self.canvasConfig = canvasConfig
        self.videoAnalyses = videoAnalyses
        self.generatedMedia = generatedMedia
        self.stages = stages
        self.extras = extras
    }

    /// All reported stages are completed (true when none are reported).
    public var allStagesCompleted: Bool { stages?.allSatisfy(\.isCompleted) ?? true }

    private static let known: Set<String> = ["draft", "video_infos", "canvas_config", "video_analyses", "generated_media", "stages"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        draft = container.lenient(Draft.self, AnyCodingKey("draft"))
        videoInfos = container.lenient([JSONValue].self, AnyCodingKey("video_infos")) ?? []
        canvasConfig = container.lenient([String: JSONValue].self, AnyCodingKey("canvas_config"))
        videoAnalyses = container.lenient([JSONValue].self, AnyCodingKey("video_analyses")) ?? []
        generatedMedia = container.lenient([JSONValue].self, AnyCodingKey("generated_media")) ?? []
        stages = container.lenient([StageProgress].self, AnyCodingKey("stages"))
        extras = container.extras(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encode(draft ?? Draft(), forKey: AnyCodingKey("draft"))
        try container.encode(videoInfos, forKey: AnyCodingKey("video_infos"))
        try container.encodeIfPresent(canvasConfig, forKey: AnyCodingKey("canvas_config"))
        try container.encode(videoAnalyses, forKey: AnyCodingKey("video_analyses"))
        try container.encode(generatedMedia, forKey: AnyCodingKey("generated_media"))
        try container.encodeIfPresent(stages, forKey: AnyCodingKey("stages"))
        try container.encodeExtras(extras)
    }
}

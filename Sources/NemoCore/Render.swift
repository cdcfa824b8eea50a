/// Body of `POST /api/render/proxy/lambda`. Note the camelCase `sessionId`,
/// a documented exception to the snake_case rule.
public struct RenderRequest: Sendable, Hashable, Codable {
    public struct Output: Sendable, Hashable, Codable {
        public var format: String
        public var quality: String
        public init(format: String = "mp4", quality: String = "high") {
            self.format = format
            self.quality = quality
        }
    }

    /// `render_<unique>`; a reused id is an error.
    public var id: String
    public var sessionID: String
    public var draft: Draft
    /// Optional; `{"format": "mp4", "quality": "high"}` when absent.
    public var output: Output?

    public init(id: String, sessionID: String, draft: Draft, output: Output? = Output()) {
        self.id = id
        self.sessionID = sessionID
        self.draft = draft
        self.output = output
    }

    private enum CodingKeys: String, CodingKey { case id, sessionID = "sessionId", draft, output }
}

/// The status of a render job.
public struct RenderStatus: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue.lowercased() }

    public static let pending = RenderStatus(rawValue: "pending")
    public static let processing = RenderStatus(rawValue: "processing")
    public static let completed = RenderStatus(rawValue: "completed")
    public static let failed = RenderStatus(rawValue: "failed")
    public static let cancelled = RenderStatus(rawValue: "cancelled")

    /// The job will not change any more.
    public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A render job as reported by submit and status polls, read from either
/// documented shape: `{"success": true, "data": {"status", "progress",
/// "outputUrl", "createdAt", "completedAt"}}` (vendor reference) or
/// `{"status": ..., "output": {"url": ...}}` (skill texts), or both at once.
public struct RenderJob: Sendable, Hashable, Decodable {
    public var id: String?
    public var status: RenderStatus
    /// 0-100, when reported.
    public var progress: Int?
    /// The download URL, once completed.
    public var outputURL: String?
    /// Epoch milliseconds, when reported.
    public var createdAt: Int64?
    public var completedAt: Int64?
    /// `success` of the render envelope, when present.
    public var success: Bool?
    /// An error message for failed jobs or rejected requests.
    public var message: String?

    public init(
        id: String?, status: RenderStatus, progress: Int? = nil, outputURL: String? = nil, createdAt: Int64? = nil,
        completedAt: Int64? = nil, success: Bool? = true, message: String? = nil
    ) {
        self.id = id
        self.status = status
        self.progress = progress
        self.outputURL = outputURL
        self.createdAt = createdAt
        self.completedAt = completedAt
        self.success = success
        self.message = message
    }

    public init(from decoder: any Decoder) throws {
        let top = try decoder.container(keyedBy: AnyCodingKey.self)
        let data = try? top.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey("data"))
        let output = try? top.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey("output"))
        let dataOutput = try? data?.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey("output"))
        func string(_ key: String) -> String? {
            data?.lenientString(AnyCodingKey(key)) ?? top.lenientString(AnyCodingKey(key))
        }
        success = top.lenientBool(AnyCodingKey("success"))
        id = string("id")
        let statusText = string("status")
        progress = data?.lenientInt(AnyCodingKey("progress")) ?? top.lenientInt(AnyCodingKey("progress"))
        outputURL = data?.lenientString(AnyCodingKey("outputUrl")) ?? data?.lenientString(AnyCodingKey("output_url"))
            ?? top.lenientString(AnyCodingKey("outputUrl")) ?? output?.lenientString(AnyCodingKey("url"))
            ?? dataOutput?.lenientString(AnyCodingKey("url"))
        createdAt = (data?.lenientInt(AnyCodingKey("createdAt")) ?? top.lenientInt(AnyCodingKey("createdAt"))).map(Int64.init)
        completedAt = (data?.lenientInt(AnyCodingKey("completedAt")) ?? top.lenientInt(AnyCodingKey("completedAt"))).map(Int64.init)
        message = top.lenientString(AnyCodingKey("message")) ?? top.lenientString(AnyCodingKey("error"))
            ?? data?.lenientString(AnyCodingKey("error")) ?? data?.lenientString(AnyCodingKey("message"))
        if let statusText {
            status = RenderStatus(rawValue: statusText)
        } else if success == false {
            status = .failed
        } else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("status"), .init(codingPath: [], debugDescription: "no status in data.status nor top-level status"))
        }
    }
}

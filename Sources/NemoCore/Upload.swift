/// What kind of media a file is, from its extension.
public enum MediaKind: String, Sendable, Hashable, Codable, CaseIterable {
    case video, image, audio

    /// The accepted extensions, lower case, per kind.
    public static let acceptedExtensions: [MediaKind: Set<String>] = [
        .video: ["mp4", "mov", "avi", "webm", "mkv"],
        .image: ["jpg", "jpeg", "png", "gif", "webp"],
        .audio: ["mp3", "wav", "m4a", "aac"],
    ]

    /// The kind of a file name or URL path by its extension; nil when unsupported (4001).
    public init?(fileName: String) {
        var name = Substring(fileName)
        if let query = name.firstIndex(where: { $0 == "?" || $0 == "#" }) { name = name[..<query] }
        guard let dot = name.lastIndex(of: "."), !name[name.index(after: dot)...].contains("/") else { return nil }
        let ext = name[name.index(after: dot)...].lowercased()
        guard let kind = MediaKind.acceptedExtensions.first(where: { $0.value.contains(ext) })?.key else { return nil }
        self = kind
    }
}

/// Body of a URL upload: `{"urls": [...], "source_type": "url"}`.
public struct URLUploadRequest: Sendable, Hashable, Codable {
    public var urls: [String]
    public var sourceType: String

    public init(urls: [String], sourceType: String = "url") {
        self.urls = urls
        self.sourceType = sourceType
    }

    private enum CodingKeys: String, CodingKey { case urls, sourceType = "source_type" }
}

/// One file in an upload response.
public struct UploadedFile: Sendable, Hashable, Codable {
    public var filename: String
    /// `video`, `image` or `audio`.
    public var fileType: String
    public var cdnURL: String
    /// Seconds, when known.
    public var duration: Double?
    public var width: Int?
    public var height: Int?
    public var fps: Double?
    /// SHA-256 of the bytes, hex.
    public var hash: String?
    /// Size in bytes (the simulator adds it; production may not).
    public var size: Int?

    public init(
        filename: String, fileType: String, cdnURL: String, duration: Double? = nil, width: Int? = nil,
        height: Int? = nil, fps: Double? = nil, hash: String? = nil, size: Int? = nil
    ) {
        self.filename = filename
        self.fileType = fileType
        self.cdnURL = cdnURL
        self.duration = duration
        self.width = width
        self.height = height
        self.fps = fps
        self.hash = hash
        self.size = size
    }

    private enum CodingKeys: String, CodingKey {
        case filename, fileType = "file_type", cdnURL = "cdn_url", duration, width, height, fps, hash, size
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        filename = container.lenientString(.filename) ?? ""
        fileType = container.lenientString(.fileType) ?? ""
        cdnURL = container.lenientString(.cdnURL) ?? ""
        duration = container.lenientDouble(.duration)
        width = container.lenientInt(.width)
        height = container.lenientInt(.height)
        fps = container.lenientDouble(.fps)
        hash = container.lenientString(.hash)
        size = container.lenientInt(.size)
    }
}

/// `data` of an upload.
public struct UploadResult: Sendable, Hashable, Codable {
    public var files: [UploadedFile]
    public var sessionStateApplied: Bool

    public init(files: [UploadedFile], sessionStateApplied: Bool = true) {
        self.files = files
        self.sessionStateApplied = sessionStateApplied
    }

    private enum CodingKeys: String, CodingKey { case files, sessionStateApplied = "session_state_applied" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        files = container.lenient([UploadedFile].self, .files) ?? []
        sessionStateApplied = container.lenientBool(.sessionStateApplied) ?? false
    }
}

/// The three attribution headers every call must carry. Export fails with
/// HTTP 402 when any is missing.
public struct AttributionHeaders: Sendable, Hashable, Codable {
    public static let sourceName = "X-Skill-Source"
    public static let versionName = "X-Skill-Version"
    public static let platformName = "X-Skill-Platform"
    /// The header names, in documentation order.
    public static let names = [sourceName, versionName, platformName]

    /// The client's name (skill 1.9: `$SKILL_NAME`).
    public var source: String
    /// Skill version (semver).
    public var version: String
    /// `clawhub`, `cursor`, `unknown`, ...
    public var platform: String

    public init(source: String, version: String, platform: String) {
        self.source = source
        self.version = version
        self.platform = platform
    }

    /// The headers as name/value pairs.
    public var pairs: [(name: String, value: String)] {
        [(Self.sourceName, source), (Self.versionName, version), (Self.platformName, platform)]
    }

    /// The attribution header names that `headers` lacks (or has empty),
    /// matching names case-insensitively.
    public static func missing(in headers: [(name: String, value: String)]) -> [String] {
        names.filter { name in
            !headers.contains { $0.name.caseInsensitiveCompare(name) == .orderedSame && !$0.value.isEmpty }
        }
    }
}

/// Other header names of the API.
public enum NemoHeader {
    public static let authorization = "Authorization"
    public static let clientID = "X-Client-Id"
    public static let lastEventID = "Last-Event-ID"
    public static let accept = "Accept"
    public static let contentType = "Content-Type"
}

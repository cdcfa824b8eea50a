import Foundation
import NemoCore
import Yams

/// A closed range of seconds, written `[min, max]` in a profile.
public struct SecondsRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var min: Double
    public var max: Double

    public init(_ min: Double, _ max: Double) {
        self.min = min
        self.max = max
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        min = try container.decode(Double.self)
        max = try container.decode(Double.self)
        guard container.isAtEnd else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected [min, max]")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(min)
        try container.encode(max)
    }

    public var description: String { "[\(min), \(max)]" }
}

/// How error codes reach the client: HTTP 200 with the code in the body
/// (`envelope`, the default), or an HTTP status per code as well (`http`).
public enum ErrorStatusMode: String, Sendable, Hashable, Codable, CaseIterable {
    case envelope, http
}

/// Which render status shape the simulator sends.
public enum RenderShape: String, Sendable, Hashable, Codable, CaseIterable {
    /// Both at once (default): a client written from either text works.
    case both
    /// `data.status` / `data.outputUrl` only (the vendor reference).
    case vendor
    /// Top-level `status` / `output.url` only (the skill texts).
    case skill
}

/// Every uncertain number and shape of API.md, as a setting. The defaults
/// reproduce API.md. Keys are snake_case in JSON and YAML files.
public struct BehaviourProfile: Sendable, Hashable, Codable {
    // Tokens and rate limits
    public var tokenTTLSeconds: Double = 7 * 86400
    public var initialCredits: Int = 100
    public var tokensPerIPPerHour: Int = 5
    public var tokensPerIPPerWindow: Int = 10
    public var tokenIPWindowSeconds: Double = 7 * 86400
    public var tokenReissuesPerClientPerHour: Int = 20
    // Sessions
    public var sessionIdleTTLSeconds: Double = 3600
    // Messages
    public var sseDialect: SSEDialect = .typed
    public var heartbeatIntervalSeconds: Double = 15
    public var silentCloseRatio: Double = 0.3
    public var temporaryIssueRatio: Double = 0.1
    public var operationFailureRatio: Double = 0
    public var replyDurationSeconds = SecondsRange(5, 15)
    public var generationDurationSeconds = SecondsRange(100, 300)
    public var editDurationSeconds = SecondsRange(10, 30)
    public var secondStageDurationSeconds = SecondsRange(20, 60)
    public var generationKeywords: [String] = [
        "generate", "create", "make", "turn", "produce", "video", "promo", "montage", "slideshow", "compile",
    ]
    public var editKeywords: [String] = [
        "title", "caption", "text", "music", "bgm", "soundtrack", "audio", "trim", "cut", "shorten", "shorter",
        "longer", "extend", "remove", "replace", "change", "speed", "faster", "slower", "color", "filter", "transition",
        "add", "volume", "louder", "quieter",
    ]
    // Credits
    public var generationCost: Int = 100
    public var editCost: Int = 50
    public var replyCost: Int = 0
    // Uploads
    public var maxUploadBytes: Int = 500 * 1024 * 1024
    // Renders
    public var renderDurationSeconds = SecondsRange(30, 90)
    public var renderQueueSeconds: Double = 2
    public var renderFailureRatio: Double = 0
    public var renderShape: RenderShape = .both
    public var downloadURLTTLSeconds: Double = 86400
    public var exportBlocked: Bool = false
    // Errors
    public var errorStatusMode: ErrorStatusMode = .envelope

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tokenTTLSeconds = "token_ttl_seconds"
        case initialCredits = "initial_credits"
        case tokensPerIPPerHour = "tokens_per_ip_per_hour"
        case tokensPerIPPerWindow = "tokens_per_ip_per_window"
        case tokenIPWindowSeconds = "token_ip_window_seconds"
        case tokenReissuesPerClientPerHour = "token_reissues_per_client_per_hour"
        case sessionIdleTTLSeconds = "session_idle_ttl_seconds"
        case sseDialect = "sse_dialect"
        case heartbeatIntervalSeconds = "heartbeat_interval_seconds"
        case silentCloseRatio = "silent_close_ratio"
        case temporaryIssueRatio = "temporary_issue_ratio"
        case operationFailureRatio = "operation_failure_ratio"
        case replyDurationSeconds = "reply_duration_seconds"
        case generationDurationSeconds = "generation_duration_seconds"
        case editDurationSeconds = "edit_duration_seconds"
        case secondStageDurationSeconds = "second_stage_duration_seconds"
        case generationKeywords = "generation_keywords"
        case editKeywords = "edit_keywords"
        case generationCost = "generation_cost"
        case editCost = "edit_cost"
        case replyCost = "reply_cost"
        case maxUploadBytes = "max_upload_bytes"
        case renderDurationSeconds = "render_duration_seconds"
        case renderQueueSeconds = "render_queue_seconds"
        case renderFailureRatio = "render_failure_ratio"
        case renderShape = "render_shape"
        case downloadURLTTLSeconds = "download_url_ttl_seconds"
        case exportBlocked = "export_blocked"
        case errorStatusMode = "error_status_mode"
    }

    /// Every key a profile file may hold.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Decoder) throws {
        // Every key optional: a partial profile keeps the defaults for the rest.
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var profile = BehaviourProfile()
        func read<T: Decodable>(_ key: CodingKeys, into path: WritableKeyPath<BehaviourProfile, T>) throws {
            if let value = try container.decodeIfPresent(T.self, forKey: key) { profile[keyPath: path] = value }
        }
        try read(.tokenTTLSeconds, into: \.tokenTTLSeconds)
        try read(.initialCredits, into: \.initialCredits)
        try read(.tokensPerIPPerHour, into: \.tokensPerIPPerHour)
        try read(.tokensPerIPPerWindow, into: \.tokensPerIPPerWindow)
        try read(.tokenIPWindowSeconds, into: \.tokenIPWindowSeconds)
        try read(.tokenReissuesPerClientPerHour, into: \.tokenReissuesPerClientPerHour)
        try read(.sessionIdleTTLSeconds, into: \.sessionIdleTTLSeconds)
        try read(.sseDialect, into: \.sseDialect)
        try read(.heartbeatIntervalSeconds, into: \.heartbeatIntervalSeconds)
        try read(.silentCloseRatio, into: \.silentCloseRatio)
        try read(.temporaryIssueRatio, into: \.temporaryIssueRatio)
        try read(.operationFailureRatio, into: \.operationFailureRatio)
        try read(.replyDurationSeconds, into: \.replyDurationSeconds)
        try read(.generationDurationSeconds, into: \.generationDurationSeconds)
        try read(.editDurationSeconds, into: \.editDurationSeconds)
        try read(.secondStageDurationSeconds, into: \.secondStageDurationSeconds)
        try read(.generationKeywords, into: \.generationKeywords)
        try read(.editKeywords, into: \.editKeywords)
        try read(.generationCost, into: \.generationCost)
        try read(.editCost, into: \.editCost)
        try read(.replyCost, into: \.replyCost)
        try read(.maxUploadBytes, into: \.maxUploadBytes)
        try read(.renderDurationSeconds, into: \.renderDurationSeconds)
        try read(.renderQueueSeconds, into: \.renderQueueSeconds)
        try read(.renderFailureRatio, into: \.renderFailureRatio)
        try read(.renderShape, into: \.renderShape)
        try read(.downloadURLTTLSeconds, into: \.downloadURLTTLSeconds)
        try read(.exportBlocked, into: \.exportBlocked)
        try read(.errorStatusMode, into: \.errorStatusMode)
        self = profile
    }

    /// Problems that make the profile unusable, each naming its key; empty when valid.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        let maxSeconds = 10 * 365 * 86400.0
        func positive(_ value: Double, _ key: CodingKeys) {
            if !(value > 0) || !(value <= maxSeconds) {
                errors.append("\(key.rawValue) must be a positive number of seconds up to \(Int(maxSeconds)), got \(value)")
            }
        }
        func ratio(_ value: Double, _ key: CodingKeys) {
            if !(0...1).contains(value) { errors.append("\(key.rawValue) must be between 0 and 1, got \(value)") }
        }
        func nonNegative(_ value: Int, _ key: CodingKeys) {
            if value < 0 { errors.append("\(key.rawValue) must be 0 or more, got \(value)") }
        }
        func range(_ value: SecondsRange, _ key: CodingKeys) {
            if !(value.min >= 0 && value.max >= value.min && value.max <= maxSeconds) {
                errors.append("\(key.rawValue) must be [min, max] with 0 <= min <= max, got \(value)")
            }
        }
        positive(tokenTTLSeconds, .tokenTTLSeconds)
        positive(tokenIPWindowSeconds, .tokenIPWindowSeconds)
        positive(sessionIdleTTLSeconds, .sessionIdleTTLSeconds)
        positive(heartbeatIntervalSeconds, .heartbeatIntervalSeconds)
        positive(downloadURLTTLSeconds, .downloadURLTTLSeconds)
        if !(renderQueueSeconds >= 0 && renderQueueSeconds <= maxSeconds) {
            errors.append("render_queue_seconds must be 0 to \(Int(maxSeconds)), got \(renderQueueSeconds)")
        }
        ratio(silentCloseRatio, .silentCloseRatio)
        ratio(temporaryIssueRatio, .temporaryIssueRatio)
        ratio(operationFailureRatio, .operationFailureRatio)
        ratio(renderFailureRatio, .renderFailureRatio)
        nonNegative(initialCredits, .initialCredits)
        nonNegative(tokensPerIPPerHour, .tokensPerIPPerHour)
        nonNegative(tokensPerIPPerWindow, .tokensPerIPPerWindow)
        nonNegative(tokenReissuesPerClientPerHour, .tokenReissuesPerClientPerHour)
        nonNegative(generationCost, .generationCost)
        nonNegative(editCost, .editCost)
        nonNegative(replyCost, .replyCost)
        if maxUploadBytes <= 0 { errors.append("max_upload_bytes must be positive, got \(maxUploadBytes)") }
        range(replyDurationSeconds, .replyDurationSeconds)
        range(generationDurationSeconds, .generationDurationSeconds)
        range(editDurationSeconds, .editDurationSeconds)
        range(secondStageDurationSeconds, .secondStageDurationSeconds)
        range(renderDurationSeconds, .renderDurationSeconds)
        return errors
    }

    /// The profile as JSON.
    public var jsonValue: JSONValue { (try? JSONValue(encoding: self)) ?? .object([:]) }

    /// This profile with `patch` (a partial profile as a JSON object) merged
    /// in. Throws ``ProfileError`` naming each unknown key, wrong type or
    /// invalid value.
    public func merging(_ patch: JSONValue) throws -> BehaviourProfile {
        guard case .object(let members) = patch else {
            throw ProfileError(problems: ["a profile patch must be a JSON object of profile keys"])
        }
        let unknown = members.keys.filter { !Self.keys.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ProfileError(problems: unknown.map { "unknown profile key \"\($0)\" (known keys: \(Self.keys.joined(separator: ", ")))" })
        }
        guard case .object(var merged) = jsonValue else { throw ProfileError(problems: ["internal: profile is not an object"]) }
        for (key, value) in members { merged[key] = value }
        let profile: BehaviourProfile
        do {
            profile = try JSONValue.object(merged).decode(BehaviourProfile.self)
        } catch {
            throw ProfileError(problems: [Self.describe(error)])
        }
        let problems = profile.validationErrors()
        if !problems.isEmpty { throw ProfileError(problems: problems) }
        return profile
    }

    /// Reads a profile file, JSON or YAML (by content), every key optional.
    public static func load(contentsOf url: URL) throws -> BehaviourProfile {
        // Through a file handle, so that a pipe works too (`--profile <(...)`).
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            data = try handle.read(upToCount: 1 << 20 + 1) ?? Data()
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            let reason = underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : nil }
            throw ProfileError(problems: ["cannot read profile \(url.path): \(reason ?? error.localizedDescription)"])
        }
        guard data.count <= 1 << 20 else { throw ProfileError(problems: ["profile \(url.path) is larger than 1 MiB: a profile is a short JSON or YAML file"]) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ProfileError(problems: ["profile \(url.path) is not UTF-8 text: give a JSON or YAML file"])
        }
        let value: JSONValue
        do {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("{") {
                value = try JSONValue.parse(trimmed)
            } else {
                value = try YAMLDecoder().decode(JSONValue.self, from: text)
            }
        } catch {
            throw ProfileError(problems: ["profile \(url.path) is neither valid JSON nor YAML: \(error)"])
        }
        do {
            return try BehaviourProfile().merging(value)
        } catch let error as ProfileError {
            throw ProfileError(problems: error.problems.map { "\(url.path): \($0)" })
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context):
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(key.isEmpty ? "value" : key): expected \(expectedName(type)) (\(context.debugDescription))"
        case DecodingError.dataCorrupted(let context):
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(key.isEmpty ? "value" : key): \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, _):
            return "missing key \(key.stringValue)"
        default:
            return "\(error)"
        }
    }

    private static func expectedName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type: return "a number"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default: return "\(type)"
        }
    }
}

/// A profile that cannot be used, with every problem found.
public struct ProfileError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}

import Foundation
import NemoCore
import NemoResources
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
    /// `data.status` / `data.outputUrl` only (the vendor's API reference;
    /// the default). `vendor` is read as this too.
    case reference
    /// Top-level `status` / `output.url` (the skill texts).
    case skill
    /// Both at once (a client written from either text works; the bug the
    /// reference warns about hides).
    case both

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let shape = text == "vendor" ? .reference : RenderShape(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected reference, skill or both"))
        }
        self = shape
    }
}

/// Which calls must carry the attribution headers (`X-Skill-Source`,
/// `X-Skill-Version`, `X-Skill-Platform`).
public enum AttributionRule: String, Sendable, Hashable, Codable, CaseIterable {
    /// Every call but token issuance: an export without them is HTTP 402,
    /// any other call a 1001 naming the missing headers.
    case everyCall = "every_call"
    /// Export only (HTTP 402).
    case export
    /// None.
    case none
}

/// How editing is charged.
public enum EditCharge: String, Sendable, Hashable, Codable, CaseIterable {
    /// The first edit of a session costs `edit_cost`; later edits are free
    /// (a failed charging edit passes the charge to the next one).
    case perSession = "per_session"
    /// Every edit costs `edit_cost`.
    case perEdit = "per_edit"
}

/// Every uncertain number and shape of API.md, as a setting. The defaults
/// are the `strict` profile: the latest vendor texts, and where texts
/// disagree the stricter reading. Keys are snake_case in JSON and YAML
/// files; a file names only the keys it changes.
public struct BehaviourProfile: Sendable, Hashable, Codable {
    // What this profile is
    /// `strict`, `reference`, `skill`, `lenient`, or `custom:FILE`.
    public var name = "strict"
    public var description = "The latest vendor texts (skill 1.9 and its changelog, the API reference); where they disagree, the stricter reading."
    /// Per key, the vendor text its value follows.
    public var follows: [String: String] = [:]
    /// The shipped profile this one starts from (its own name for a shipped
    /// one). Scenarios that pin a reading (`profiles:`) go by it.
    public var base = "strict"
    // Tokens and rate limits
    public var tokenTTLSeconds: Double = 7 * 86400
    public var initialCredits: Int = 100
    public var tokensPerIPPerHour: Int = 5
    public var tokensPerIPPerWindow: Int = 10
    public var tokenIPWindowSeconds: Double = 7 * 86400
    /// Tokens one client id may get within ``tokenClientWindowSeconds``.
    /// The longest `X-Client-Id` accepted (characters; 400 beyond).
    public var clientIDMaxLength: Int = 64
    public var tokensPerClient: Int = 1
    public var tokenClientWindowSeconds: Double = 7 * 86400
    public var anonymousScopes: [TokenScope] = [.read, .write, .upload]
    /// Anonymous tokens may export (submit and cancel renders) without the
    /// `render` scope, as the skill's own flow does; the plan (HTTP 402)
    /// decides instead.
    public var anonymousMayRender = true
    public var claimTokenTTLSeconds: Double = 7 * 86400
    public var attributionRequired: AttributionRule = .everyCall
    // Sessions
    public var sessionIdleTTLSeconds: Double = 3600
    // Messages
    public var sseDialect: SSEDialect = .typed
    /// Events carry `id:` lines (no vendor text shows them).
    public var sseEventIDs = false
    /// A `/run_sse` with `Last-Event-ID` resumes the running operation (no
    /// vendor text mentions it; off, it is a new operation, charged).
    public var streamResume = false
    public var heartbeatIntervalSeconds: Double = 15
    /// Share of edits that end with no text.
    public var silentCloseRatio: Double = 0.3
    /// Share of generations that end with no text.
    public var silentGenerationRatio: Double = 0.3
    public var temporaryIssueRatio: Double = 0.1
    public var operationFailureRatio: Double = 0
    public var replyDurationSeconds = SecondsRange(5, 15)
    public var generationDurationSeconds = SecondsRange(100, 300)
    public var editDurationSeconds = SecondsRange(10, 30)
    public var secondStageDurationSeconds = SecondsRange(20, 60)
    public var generationKeywords: [String] = [
        "generate", "create", "make", "turn", "produce", "video", "promo", "montage", "slideshow", "compile", "regenerate", "clip",
        "teaser", "reel",
    ]
    public var editKeywords: [String] = [
        "title", "caption", "captions", "subtitle", "subtitles", "text", "music", "bgm", "soundtrack", "audio", "song", "trim", "cut",
        "shorten", "shorter", "longer", "extend", "length", "duration", "long", "remove", "replace", "change", "speed", "faster",
        "slower", "color", "filter", "transition", "add", "volume", "louder", "quieter", "softer", "mute", "lower",
    ]
    // Credits
    public var generationCost: Int = 100
    public var editCost: Int = 50
    public var editCharge: EditCharge = .perSession
    public var replyCost: Int = 0
    // Uploads
    public var maxUploadBytes: Int = 500 * 1024 * 1024
    // Limits that keep the simulator's memory bounded (no vendor text
    // gives them; each is far above what a client of the API needs).
    /// Sessions one account may hold at once (idle-expired ones do not count).
    public var maxSessionsPerAccount: Int = 1000
    /// Renders one account may hold (finished ones are dropped
    /// ``renderRetentionSeconds`` after they end).
    public var maxRendersPerAccount: Int = 1000
    /// How long a finished render stays for status and download.
    public var renderRetentionSeconds: Double = 7 * 86400
    /// Media files one session may hold.
    public var maxUploadsPerSession: Int = 1000
    /// Parts (files or URLs) one upload request may carry.
    public var maxPartsPerUpload: Int = 100
    /// The longest message text, in bytes.
    public var maxMessageBytes: Int = 64 * 1024
    /// The request journal's limits: entries kept, and their bytes (the
    /// oldest are dropped first; `GET /_nemosim/journal` counts them).
    public var journalEntries: Int = RequestJournal.defaultEntries
    public var journalBytes: Int = RequestJournal.defaultBytes
    // Renders
    public var renderDurationSeconds = SecondsRange(30, 90)
    public var renderQueueSeconds: Double = 2
    public var renderFailureRatio: Double = 0
    public var renderShape: RenderShape = .reference
    public var downloadURLTTLSeconds: Double = 86400
    public var exportBlocked: Bool = false
    // What a client is told to do (announced at /_nemosim/health)
    public var renderPollIntervalSeconds: Double = 30
    public var renderMaxPolls: Int = 10
    public var clientStreamTimeoutSeconds: Double = 900
    // Errors and links
    public var errorStatusMode: ErrorStatusMode = .envelope
    public var webAppURL = "https://nemovideo.com"

    public init() {}

    /// One key of a profile: its name, how it is read and written, and what
    /// values it takes. A key is added here, in one line.
    struct Key: Sendable {
        let name: String
        let read: @Sendable (KeyedDecodingContainer<ProfileKey>, inout BehaviourProfile) throws -> Void
        let write: @Sendable (inout KeyedEncodingContainer<ProfileKey>, BehaviourProfile) throws -> Void
        let check: @Sendable (BehaviourProfile) -> String?

        init<T: Codable & Sendable>(_ name: String, _ path: WritableKeyPath<BehaviourProfile, T> & Sendable, check: (@Sendable (T) -> String?)? = nil) {
            self.name = name
            read = { container, profile in
                if let value = try container.decodeIfPresent(T.self, forKey: ProfileKey(name)) { profile[keyPath: path] = value }
            }
            write = { container, profile in try container.encode(profile[keyPath: path], forKey: ProfileKey(name)) }
            self.check = { profile in check?(profile[keyPath: path]).map { "\(name) \($0)" } }
        }
    }

    static let maxSeconds = 10 * 365 * 86400.0

    static func seconds(_ value: Double) -> String? {
        value > 0 && value <= maxSeconds ? nil : "must be a positive number of seconds up to \(Int(maxSeconds)), got \(value)"
    }

    static func secondsOrZero(_ value: Double) -> String? {
        value >= 0 && value <= maxSeconds ? nil : "must be 0 to \(Int(maxSeconds)) seconds, got \(value)"
    }

    static func ratio(_ value: Double) -> String? {
        (0...1).contains(value) ? nil : "must be between 0 and 1, got \(value)"
    }

    static func limit(_ value: Int) -> String? {
        (1...1_000_000).contains(value) ? nil : "must be 1 to 1000000, got \(value)"
    }

    static func count(_ value: Int) -> String? {
        value >= 0 ? nil : "must be 0 or more, got \(value)"
    }

    static func range(_ value: SecondsRange) -> String? {
        value.min >= 0 && value.max >= value.min && value.max <= maxSeconds ? nil : "must be [min, max] with 0 <= min <= max, got \(value)"
    }

    /// Every key, in the order files and answers list them.
    static let keyTable: [Key] = [
        Key("name", \.name, check: { $0.isEmpty ? "must not be empty" : nil }),
        Key("description", \.description),
        Key("follows", \.follows),
        Key("base", \.base, check: { shippedNames.contains($0) ? nil : "must be a shipped profile (\(shippedNames.joined(separator: ", "))), got \($0)" }),
        Key("token_ttl_seconds", \.tokenTTLSeconds, check: seconds),
        Key("initial_credits", \.initialCredits, check: count),
        Key("tokens_per_ip_per_hour", \.tokensPerIPPerHour, check: count),
        Key("tokens_per_ip_per_window", \.tokensPerIPPerWindow, check: count),
        Key("token_ip_window_seconds", \.tokenIPWindowSeconds, check: seconds),
        Key("client_id_max_length", \.clientIDMaxLength, check: { (1...4096).contains($0) ? nil : "must be 1 to 4096, got \($0)" }),
        Key("tokens_per_client", \.tokensPerClient, check: { $0 >= 1 ? nil : "must be 1 or more, got \($0)" }),
        Key("token_client_window_seconds", \.tokenClientWindowSeconds, check: seconds),
        Key("anonymous_scopes", \.anonymousScopes, check: { $0.isEmpty ? "must name at least one scope" : nil }),
        Key("anonymous_may_render", \.anonymousMayRender),
        Key("claim_token_ttl_seconds", \.claimTokenTTLSeconds, check: seconds),
        Key("attribution_required", \.attributionRequired),
        Key("session_idle_ttl_seconds", \.sessionIdleTTLSeconds, check: seconds),
        Key("sse_dialect", \.sseDialect),
        Key("sse_event_ids", \.sseEventIDs),
        Key("stream_resume", \.streamResume),
        Key("heartbeat_interval_seconds", \.heartbeatIntervalSeconds, check: seconds),
        Key("silent_close_ratio", \.silentCloseRatio, check: ratio),
        Key("silent_generation_ratio", \.silentGenerationRatio, check: ratio),
        Key("temporary_issue_ratio", \.temporaryIssueRatio, check: ratio),
        Key("operation_failure_ratio", \.operationFailureRatio, check: ratio),
        Key("reply_duration_seconds", \.replyDurationSeconds, check: range),
        Key("generation_duration_seconds", \.generationDurationSeconds, check: range),
        Key("edit_duration_seconds", \.editDurationSeconds, check: range),
        Key("second_stage_duration_seconds", \.secondStageDurationSeconds, check: range),
        Key("generation_keywords", \.generationKeywords),
        Key("edit_keywords", \.editKeywords),
        Key("generation_cost", \.generationCost, check: count),
        Key("edit_cost", \.editCost, check: count),
        Key("edit_charge", \.editCharge),
        Key("reply_cost", \.replyCost, check: count),
        Key("max_upload_bytes", \.maxUploadBytes, check: { $0 > 0 ? nil : "must be positive, got \($0)" }),
        Key("max_sessions_per_account", \.maxSessionsPerAccount, check: limit),
        Key("max_renders_per_account", \.maxRendersPerAccount, check: limit),
        Key("render_retention_seconds", \.renderRetentionSeconds, check: seconds),
        Key("max_uploads_per_session", \.maxUploadsPerSession, check: limit),
        Key("max_parts_per_upload", \.maxPartsPerUpload, check: limit),
        Key("max_message_bytes", \.maxMessageBytes, check: { (1...(16 << 20)).contains($0) ? nil : "must be 1 to 16777216 bytes, got \($0)" }),
        Key("journal_entries", \.journalEntries, check: {
            RequestJournal.entriesRange.contains($0) ? nil : "must be 1 to \(RequestJournal.entriesRange.upperBound) entries, got \($0)"
        }),
        Key("journal_bytes", \.journalBytes, check: {
            RequestJournal.bytesRange.contains($0) ? nil : "must be \(RequestJournal.bytesRange.lowerBound) to \(RequestJournal.bytesRange.upperBound) bytes, got \($0)"
        }),
        Key("render_duration_seconds", \.renderDurationSeconds, check: range),
        Key("render_queue_seconds", \.renderQueueSeconds, check: secondsOrZero),
        Key("render_failure_ratio", \.renderFailureRatio, check: ratio),
        Key("render_shape", \.renderShape),
        Key("download_url_ttl_seconds", \.downloadURLTTLSeconds, check: seconds),
        Key("export_blocked", \.exportBlocked),
        Key("render_poll_interval_seconds", \.renderPollIntervalSeconds, check: seconds),
        Key("render_max_polls", \.renderMaxPolls, check: { $0 >= 1 ? nil : "must be 1 or more, got \($0)" }),
        Key("client_stream_timeout_seconds", \.clientStreamTimeoutSeconds, check: seconds),
        Key("error_status_mode", \.errorStatusMode),
        Key("web_app_url", \.webAppURL, check: { URL(string: $0)?.scheme?.hasPrefix("http") == true ? nil : "must be an http(s) URL, got \($0)" }),
    ]

    /// Every key a profile file may hold.
    public static var keys: [String] { keyTable.map(\.name) }

    /// Keys of earlier versions, still read: the name, and how it maps.
    static let deprecatedKeys: [String: String] = [
        "token_reissues_per_client_per_hour": "tokens_per_client (its value + 1) and token_client_window_seconds 3600"
    ]

    public init(from decoder: any Decoder) throws {
        // Every key optional: a partial profile keeps the defaults for the rest.
        let container = try decoder.container(keyedBy: ProfileKey.self)
        var profile = BehaviourProfile()
        for key in Self.keyTable { try key.read(container, &profile) }
        if let reissues = try container.decodeIfPresent(Int.self, forKey: ProfileKey("token_reissues_per_client_per_hour")) {
            profile.tokensPerClient = max(1, reissues + 1)
            profile.tokenClientWindowSeconds = 3600
        }
        self = profile
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: ProfileKey.self)
        for key in Self.keyTable { try key.write(&container, self) }
    }

    /// Problems that make the profile unusable, each naming its key; empty when valid.
    public func validationErrors() -> [String] {
        var errors = Self.keyTable.compactMap { $0.check(self) }
        for key in follows.keys.sorted() where !Self.keys.contains(key) {
            errors.append("follows names \"\(key)\", which is no profile key")
        }
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
        let unknown = members.keys.filter { !Self.keys.contains($0) && Self.deprecatedKeys[$0] == nil }.sorted()
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

    /// Reads a profile file, JSON or YAML (by content). Keys it does not
    /// name keep the strict defaults, or those of the shipped profile its
    /// `base` names; without a `name`, it is `custom:FILE`.
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
        do {
            var (profile, named) = try parse(data, source: url.path)
            if !named { profile.name = "custom:" + url.lastPathComponent }
            return profile
        } catch let error as ProfileError {
            throw ProfileError(problems: error.problems.map { $0.hasPrefix(url.path) ? $0 : "\(url.path): \($0)" })
        }
    }

    /// A profile from the text of a profile file (what `load(contentsOf:)`
    /// reads), checked as it would be there.
    public static func parse(_ text: String, source: String) throws -> BehaviourProfile {
        try parse(Data(text.utf8), source: source).0
    }

    /// A profile from JSON or YAML text, starting from the strict defaults,
    /// and whether the text named it.
    static func parse(_ data: Data, source: String, start: BehaviourProfile? = nil, allowBase: Bool = true) throws -> (BehaviourProfile, named: Bool) {
        guard let text = String(data: data, encoding: .utf8) else {
            throw ProfileError(problems: ["profile \(source) is not UTF-8 text: give a JSON or YAML file"])
        }
        let value: JSONValue
        do {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("{") {
                value = try JSONValue.parse(trimmed)
            } else {
                value = try YAMLGuard.decode(JSONValue.self, from: text)
            }
        } catch let refusal as YAMLGuard.Refusal {
            throw ProfileError(problems: ["profile \(source): \(refusal)"])
        } catch {
            throw ProfileError(problems: ["profile \(source) is neither valid JSON nor YAML: \(error)"])
        }
        // `base: NAME` starts from that shipped profile instead of strict.
        var start = start ?? BehaviourProfile()
        if allowBase, let base = value["base"]?.stringValue {
            guard shippedNames.contains(base) else {
                throw ProfileError(problems: ["base must be a shipped profile (\(shippedNames.joined(separator: ", "))), got \(base)"])
            }
            start = try shipped(base)
        }
        var profile = try start.merging(value)
        // The keys it keeps follow what they followed in the profile it starts from.
        profile.follows = start.follows.merging(profile.follows) { _, own in own }
        return (profile, value["name"] != nil)
    }

    /// The profiles shipped with nemosim, in the order `nemosim profiles` lists them.
    public static let shippedNames = ["strict", "reference", "skill", "lenient"]

    /// A shipped profile by name.
    public static func shipped(_ name: String) throws -> BehaviourProfile {
        guard shippedNames.contains(name), let data = EmbeddedResources.data("Sources/NemoSimulator/Profiles/\(name).yaml") else {
            throw ProfileError(problems: ["no shipped profile \"\(name)\" (shipped: \(shippedNames.joined(separator: ", ")))"])
        }
        // The others start from strict: what they do not change is strict's reading.
        let start = name == "strict" ? BehaviourProfile() : try shipped("strict")
        var profile = try parse(data, source: "\(name).yaml", start: start, allowBase: false).0
        profile.base = name
        return profile
    }

    /// The `follows` a shipped profile's own file gives (not those it
    /// keeps from strict).
    static func ownFollows(_ name: String) throws -> [String: String] {
        guard let data = EmbeddedResources.data("Sources/NemoSimulator/Profiles/\(name).yaml") else { return [:] }
        let value = try YAMLGuard.decode(JSONValue.self, from: String(decoding: data, as: UTF8.self))
        return value["follows"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
    }

    /// `NAME` (a shipped profile) or `FILE` (JSON or YAML).
    public static func named(_ nameOrPath: String) throws -> BehaviourProfile {
        shippedNames.contains(nameOrPath) ? try shipped(nameOrPath) : try load(contentsOf: URL(fileURLWithPath: nameOrPath))
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

/// A key of a profile file.
struct ProfileKey: CodingKey, Hashable, Sendable {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A profile that cannot be used, with every problem found.
public struct ProfileError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}

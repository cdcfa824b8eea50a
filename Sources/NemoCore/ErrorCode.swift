/// What a client should do about an error, as the vendor documents it.
public enum ClientReaction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Success: go on.
    case proceed = "continue"
    /// Get a new anonymous token with the same client id, then retry once.
    case renewToken = "renew_token"
    /// Create a new session.
    case createSession = "create_session"
    /// Anonymous: show a registration link with `?bind=<id>`; registered: top up.
    case registerOrTopUp = "register_or_top_up"
    /// Show the accepted file formats.
    case showAcceptedFormats = "show_accepted_formats"
    /// Suggest compressing or trimming the file.
    case compressOrTrim = "compress_or_trim"
    /// Generate an `X-Client-Id` and retry.
    case sendClientID = "send_client_id"
    /// Tell the user to register or upgrade (export blocked; not a credit problem).
    case registerOrUpgrade = "register_or_upgrade"
    /// Wait 30 seconds and retry once.
    case waitAndRetryOnce = "wait_and_retry_once"
    /// Get a token with the missing scope; retrying does not help.
    case newTokenWithScope = "new_token_with_scope"

    /// The next step, in words a user can act on.
    public var advice: String {
        switch self {
        case .proceed: return "continue"
        case .renewToken: return "get a new anonymous token with the same client id, then retry once"
        case .createSession: return "create a new session"
        case .registerOrTopUp: return "anonymous users: register (link with ?bind=<id>); registered users: top up credits"
        case .showAcceptedFormats:
            return "use an accepted format: video mp4 mov avi webm mkv; image jpg jpeg png gif webp; audio mp3 wav m4a aac"
        case .compressOrTrim: return "compress or trim the file (limit 500 MB)"
        case .sendClientID: return "generate a client id (UUID), send it as X-Client-Id, and retry"
        case .registerOrUpgrade:
            return "register or upgrade the plan, and send the X-Skill-Source/-Version/-Platform headers; this is not a credit problem"
        case .waitAndRetryOnce: return "wait 30 s and retry once"
        case .newTokenWithScope: return "get a token with the needed scope; retrying does not help"
        }
    }
}

/// A code in the `code` field of the response envelope.
///
/// Unknown codes are kept (``isDocumented`` is false) rather than rejected.
public struct ErrorCode: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ rawValue: Int) { self.rawValue = rawValue }

    public static let success = ErrorCode(0)
    /// Token invalid, expired or revoked.
    public static let tokenInvalid = ErrorCode(1001)
    /// Session not found (unknown, or expired after idling).
    public static let sessionNotFound = ErrorCode(1002)
    /// Not enough credits.
    public static let outOfCredits = ErrorCode(2001)
    /// Unsupported file type.
    public static let unsupportedFileType = ErrorCode(4001)
    /// File too large.
    public static let fileTooLarge = ErrorCode(4002)

    /// Every code the vendor documents, success included.
    public static let documented: [ErrorCode] = [.success, .tokenInvalid, .sessionNotFound, .outOfCredits, .unsupportedFileType, .fileTooLarge]

    public var isDocumented: Bool { Self.documented.contains(self) }

    /// The documented meaning.
    public var meaning: String {
        switch rawValue {
        case 0: return "success"
        case 1001: return "token invalid, expired or revoked"
        case 1002: return "session not found (unknown, or expired after idling)"
        case 2001: return "out of credits"
        case 4001: return "unsupported file type"
        case 4002: return "file too large (limit 500 MB)"
        default: return "undocumented error code \(rawValue)"
        }
    }

    /// The documented client reaction; nil for undocumented codes.
    public var reaction: ClientReaction? {
        switch rawValue {
        case 0: return .proceed
        case 1001: return .renewToken
        case 1002: return .createSession
        case 2001: return .registerOrTopUp
        case 4001: return .showAcceptedFormats
        case 4002: return .compressOrTrim
        default: return nil
        }
    }

    /// The HTTP status that carries this code when a server puts errors in the
    /// status line as well as the body (the simulator's `http` mode).
    public var httpStatus: Int {
        switch rawValue {
        case 0: return 200
        case 1001: return 401
        case 1002: return 404
        case 2001: return 403
        case 4001: return 415
        case 4002: return 413
        default: return 400
        }
    }

    public var description: String { "\(rawValue) (\(meaning))" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            rawValue = value
        } else if let text = try? container.decode(String.self), let value = Int(text) {
            rawValue = value
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "code is neither an integer nor a numeric string")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// An HTTP status the vendor documents with a meaning of its own.
public enum DocumentedHTTPError: Int, Sendable, Hashable, CaseIterable {
    /// `X-Client-Id` missing on token issuance.
    case missingClientID = 400
    /// Export blocked for the plan, or attribution headers missing.
    case exportBlocked = 402
    /// Token lacks a scope.
    case missingScope = 403
    /// Rate limited.
    case rateLimited = 429

    public var meaning: String {
        switch self {
        case .missingClientID: return "X-Client-Id header missing on token issuance"
        case .exportBlocked: return "export blocked for the plan, or attribution headers missing (not a credit problem)"
        case .missingScope: return "the token lacks a scope this call needs"
        case .rateLimited: return "rate limited"
        }
    }

    public var reaction: ClientReaction {
        switch self {
        case .missingClientID: return .sendClientID
        case .exportBlocked: return .registerOrUpgrade
        case .missingScope: return .newTokenWithScope
        case .rateLimited: return .waitAndRetryOnce
        }
    }
}

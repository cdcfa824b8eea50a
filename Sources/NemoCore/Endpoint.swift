/// The endpoints of the NemoVideo agent API, with their methods and paths.
public enum Endpoint: Sendable, Hashable {
    case anonymousToken
    case createSession(userID: String = "me")
    case state(userID: String = "me", sessionID: String)
    case runSSE
    case upload(userID: String = "me", sessionID: String)
    case credits
    case renderSubmit
    case renderStatus(id: String)
    case renderCancel(id: String)
    case renderDownload(id: String)

    /// The production base URL.
    public static let productionBaseURL = "https://mega-api-prod.nemovideo.ai"
    /// The vendor's development host.
    public static let developmentBaseURL = "https://mega-api-dev.nemovideo.ai"
    /// The web app, for claim and registration links.
    public static let webAppURL = "https://nemovideo.com"
    /// The `app_name` the agent endpoints use.
    public static let appName = "nemo_agent"

    public var method: String {
        switch self {
        case .state, .credits, .renderStatus, .renderDownload: return "GET"
        default: return "POST"
        }
    }

    /// The path, with each dynamic segment percent-encoded.
    public var path: String {
        switch self {
        case .anonymousToken: return "/api/auth/anonymous-token"
        case .createSession(let user): return "/api/tasks/\(Self.segment(user))/with-session/nemo_agent"
        case .state(let user, let session): return "/api/state/nemo_agent/\(Self.segment(user))/\(Self.segment(session))/latest"
        case .runSSE: return "/run_sse"
        case .upload(let user, let session): return "/api/upload-video/nemo_agent/\(Self.segment(user))/\(Self.segment(session))"
        case .credits: return "/api/credits/balance/simple"
        case .renderSubmit: return "/api/render/proxy/lambda"
        case .renderStatus(let id): return "/api/render/proxy/lambda/\(Self.segment(id))"
        case .renderCancel(let id): return "/api/render/proxy/lambda/\(Self.segment(id))/cancel"
        case .renderDownload(let id): return "/api/render/proxy/\(Self.segment(id))/download"
        }
    }

    /// Whether the call needs `Authorization: Bearer`.
    public var requiresToken: Bool { self != .anonymousToken }

    /// The scope a token needs for this call.
    public var requiredScope: TokenScope? {
        switch self {
        case .anonymousToken: return nil
        case .state, .credits, .renderStatus, .renderDownload: return .read
        case .createSession, .runSSE: return .write
        case .upload: return .upload
        case .renderSubmit, .renderCancel: return .render
        }
    }

    /// Percent-encodes a path segment (RFC 3986 unreserved characters kept).
    public static func segment(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

/// The scopes a token can carry.
public enum TokenScope: String, Sendable, Hashable, Codable, CaseIterable {
    case read, write, upload, render
    case all = "*"

    /// Whether a token with `scopes` may do what `self` needs.
    public func isGranted(by scopes: some Sequence<TokenScope>) -> Bool {
        scopes.contains { $0 == .all || $0 == self }
    }
}

extension String {
    /// The string padded on the left to `width` characters.
    public func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

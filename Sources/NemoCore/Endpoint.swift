/// A call of the API with its path parameters filled in: a ``Route`` of the
/// table and the values of its parameters.
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

    /// The route of the table this call is for.
    public var route: Route {
        switch self {
        case .anonymousToken: return .anonymousToken
        case .createSession: return .createSession
        case .state: return .state
        case .runSSE: return .runSSE
        case .upload: return .upload
        case .credits: return .credits
        case .renderSubmit: return .renderSubmit
        case .renderStatus: return .renderStatus
        case .renderCancel: return .renderCancel
        case .renderDownload: return .renderDownload
        }
    }

    /// The values of the route's path parameters.
    public var parameters: [String: String] {
        switch self {
        case .anonymousToken, .runSSE, .credits, .renderSubmit: return [:]
        case .createSession(let user): return ["user_id": user]
        case .state(let user, let session), .upload(let user, let session): return ["user_id": user, "session_id": session]
        case .renderStatus(let id), .renderCancel(let id), .renderDownload(let id): return ["id": id]
        }
    }

    public var method: String { route.method }

    /// The path, with each parameter percent-encoded.
    public var path: String { route.path(parameters) }
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

/// The API's endpoints: the table every part reads (``Route``), and the
/// typed calls the client makes of them (``Endpoint``). An endpoint is added
/// here: its route, and its case.

extension Route {
    public static let anonymousToken = Route(
        "anonymous_token", "POST", "/api/auth/anonymous-token", scope: nil,
        summary: "An anonymous token for the X-Client-Id header's client")
    public static let createSession = Route(
        "create_session", "POST", "/api/tasks/{user_id}/with-session/nemo_agent", scope: .write,
        summary: "A new editing session")
    public static let state = Route(
        "state", "GET", "/api/state/nemo_agent/{user_id}/{session_id}/latest", scope: .read, polled: true,
        summary: "The session's state: draft, media, stages")
    public static let runSSE = Route(
        "run_sse", "POST", "/run_sse", scope: .write, body: .eventStream,
        summary: "A message to the agent, answered as an event stream")
    public static let upload = Route(
        "upload", "POST", "/api/upload-video/nemo_agent/{user_id}/{session_id}", scope: .upload,
        summary: "Media for the session: multipart files, or URLs")
    public static let credits = Route(
        "credits", "GET", "/api/credits/balance/simple", scope: .read, polled: true,
        summary: "The account's credit balance")
    public static let renderSubmit = Route(
        "render_submit", "POST", "/api/render/proxy/lambda", scope: .render, envelope: .render,
        summary: "Submit a draft for rendering")
    public static let renderStatus = Route(
        "render_status", "GET", "/api/render/proxy/lambda/{id}", scope: .read, envelope: .render, polled: true,
        summary: "A render job's status")
    public static let renderCancel = Route(
        "render_cancel", "POST", "/api/render/proxy/lambda/{id}/cancel", scope: .render, envelope: .render,
        summary: "Cancel a render job")
    public static let claimToken = Route(
        "claim_token", "POST", "/api/auth/claim-token", scope: .read,
        summary: "A claim token that opens the session's project in the web app")
    public static let createToken = Route(
        "create_token", "POST", "/api/tokens", scope: .all,
        summary: "A token with chosen scopes (registered accounts)")
    public static let listTokens = Route(
        "list_tokens", "GET", "/api/tokens", scope: .read,
        summary: "The account's tokens, without their values (registered accounts)")
    public static let revokeToken = Route(
        "revoke_token", "POST", "/api/tokens/{id}/revoke", scope: .all,
        summary: "Revoke one of the account's tokens (registered accounts)")
    public static let renderDownload = Route(
        "render_download", "GET", "/api/render/proxy/{id}/download", scope: .read, envelope: .render, body: .file,
        summary: "The rendered MP4 (the fallback to the signed URL)")
}

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
    case claimToken

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
        case .claimToken: return .claimToken
        }
    }

    /// The values of the route's path parameters.
    public var parameters: [String: String] {
        switch self {
        case .anonymousToken, .runSSE, .credits, .renderSubmit, .claimToken: return [:]
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
    @inlinable
    public func isGranted(by scopes: some Sequence<TokenScope>) -> Bool {
        scopes.contains { $0 == .all || $0 == self }
    }
}

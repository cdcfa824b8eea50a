import Foundation

/// Something the client did on its own, for logs, progress lines and for
/// checks that it followed the documented rules.
public enum ClientAction: Sendable, Hashable, CustomStringConvertible {
    /// Waited this many API seconds, and why.
    case waited(seconds: Double, reason: String)
    case renewedToken
    /// A 1001 asked for a new token and none could be had (strict: one
    /// per client id per 7 days); the 1001 stands.
    case couldNotRenewToken(reason: String)
    case createdSession(String)
    /// Retried a call after an error.
    case retried(reason: String)
    /// Reconnected a dropped stream, attempt n, with this Last-Event-ID.
    case reconnected(attempt: Int, lastEventID: String)
    case polledState(changed: Bool)
    case retriedRender(newID: String)
    /// The render's outputUrl did not serve the file (expired, unreachable);
    /// downloaded through `/api/render/proxy/{id}/download` instead.
    case usedFallbackDownload(reason: String)
    /// Told the user the work goes on, this many API seconds in.
    case saidStillWorking(seconds: Double)

    /// A short name of the case (`waited`, `renewed_token`, ...), for
    /// expectations that name the kind rather than quote the sentence.
    public var kind: String {
        switch self {
        case .waited: return "waited"
        case .renewedToken: return "renewed_token"
        case .couldNotRenewToken: return "could_not_renew_token"
        case .createdSession: return "created_session"
        case .retried: return "retried"
        case .reconnected: return "reconnected"
        case .polledState: return "polled_state"
        case .retriedRender: return "retried_render"
        case .usedFallbackDownload: return "used_fallback_download"
        case .saidStillWorking: return "said_still_working"
        }
    }

    public var description: String {
        switch self {
        case .waited(let seconds, let reason): return "waited \(Self.format(seconds)) s (\(reason))"
        case .renewedToken: return "renewed the token (same client id)"
        case .couldNotRenewToken(let reason): return "could not renew the token: \(reason)"
        case .createdSession(let id): return "created session \(id)"
        case .retried(let reason): return "retried (\(reason))"
        case .reconnected(let attempt, let id): return "reconnected (attempt \(attempt), Last-Event-ID \(id))"
        case .polledState(let changed): return "polled state (\(changed ? "changed" : "no change"))"
        case .retriedRender(let id): return "retried the render as \(id)"
        case .usedFallbackDownload(let reason): return "used the fallback download (\(reason))"
        case .saidStillWorking(let seconds): return "said still working (\(Int(seconds / 60)) min)"
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}

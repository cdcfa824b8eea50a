import Foundation

/// The vendor's documented recovery rules, each one a setting that can be
/// turned off. Times are API seconds; the client scales them by the time
/// scale the server announces.
public struct RecoveryPolicy: Sendable, Hashable {
    /// 1001 → get a new token with the same client id, then retry once.
    public var renewTokenOn1001 = true
    /// 1002 → create a new session, then retry once.
    public var newSessionOn1002 = true
    /// HTTP 429 → wait, then retry once.
    public var retryOn429 = true
    public var rateLimitWaitSeconds: Double = 30
    /// A failed render or a reused render id → new id, retry once.
    public var retryRender = true
    /// Show "still working" this often while a stream runs without text.
    public var stillWorkingEverySeconds: Double = 120
    /// Give up on a stream after this long with heartbeats only.
    public var heartbeatOnlyTimeoutSeconds: Double = 600
    /// A stream that closes with no text → poll state until the draft changes.
    public var pollStateAfterSilentClose = true
    /// A dropped stream → reconnect with `Last-Event-ID` after this wait ...
    public var reconnectDroppedStream = true
    public var reconnectDelaySeconds: Double = 2
    /// ... at most this many times ...
    public var maxReconnects = 3
    /// ... then poll state this often.
    public var statePollSeconds: Double = 5
    /// How many state polls before giving up on seeing a change.
    public var maxStatePolls = 120
    /// Render status polls: interval and limit (documented: 10 s × 30, or 30 s × 10).
    public var renderPollSeconds: Double = 10
    public var maxRenderPolls = 30

    public init() {}

    /// Every rule off: the client reports each error as it comes.
    public static var none: RecoveryPolicy {
        var policy = RecoveryPolicy()
        policy.renewTokenOn1001 = false
        policy.newSessionOn1002 = false
        policy.retryOn429 = false
        policy.retryRender = false
        policy.pollStateAfterSilentClose = false
        policy.reconnectDroppedStream = false
        return policy
    }
}

/// Something the client did on its own, for logs, progress lines and for
/// checks that it followed the documented rules.
public enum ClientAction: Sendable, Hashable, CustomStringConvertible {
    /// Waited this many API seconds, and why.
    case waited(seconds: Double, reason: String)
    case renewedToken
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

    public var description: String {
        switch self {
        case .waited(let seconds, let reason): return "waited \(Self.format(seconds)) s (\(reason))"
        case .renewedToken: return "renewed the token (same client id)"
        case .createdSession(let id): return "created session \(id)"
        case .retried(let reason): return "retried (\(reason))"
        case .reconnected(let attempt, let id): return "reconnected (attempt \(attempt), Last-Event-ID \(id))"
        case .polledState(let changed): return "polled state (\(changed ? "changed" : "no change"))"
        case .retriedRender(let id): return "retried the render as \(id)"
        case .usedFallbackDownload(let reason): return "used the fallback download (\(reason))"
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}

/// The clock the client waits on. Waits are in API seconds; a scaled clock
/// divides them by the server's time scale.
public protocol ClientClock: Sendable {
    /// Waits `seconds` of API time.
    func sleep(seconds: Double) async throws
    /// API seconds since an arbitrary start.
    var now: Double { get }
}

/// Real time divided by a scale: with scale 1000, "wait 30 s" takes 30 ms.
public struct ScaledClock: ClientClock {
    public let timeScale: Double
    private let start = ContinuousClock.now

    public init(timeScale: Double = 1) {
        self.timeScale = max(timeScale, 1e-9)
    }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(for: .nanoseconds(Int64(seconds / timeScale * 1e9)))
    }

    public var now: Double {
        (ContinuousClock.now - start).inSeconds * timeScale
    }
}

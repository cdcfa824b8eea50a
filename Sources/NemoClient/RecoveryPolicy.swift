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
    /// Give up on a stream after this long with heartbeats only. With this
    /// and ``stillWorkingEverySeconds`` both infinite, nothing watches a
    /// stream at all.
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

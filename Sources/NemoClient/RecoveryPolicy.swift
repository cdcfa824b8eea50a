import Foundation
import NemoCore

/// The vendor's documented recovery rules (skill 1.9), each one a setting
/// that can be turned off. Times are API seconds; the client scales them by
/// the time scale the server announces.
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
    /// Give up on a stream after this long with heartbeats only (then the
    /// state is checked as after a lost stream). With this and
    /// ``stillWorkingEverySeconds`` both infinite, nothing watches a stream.
    public var heartbeatOnlyTimeoutSeconds: Double = 600
    /// A stream that closes with no text → check the state at once, then as
    /// after a lost stream, until the draft changes.
    public var pollStateAfterSilentClose = true
    /// A lost stream (dropped, or heartbeats only for too long) → never send
    /// the message again; check the state after ``firstStateCheckSeconds``,
    /// then every ``stateCheckEverySeconds``, at most ``maxStateChecks``
    /// times, then fail with an offer to retry (skill 1.9 §3.6).
    public var checkStateAfterLostStream = true
    public var firstStateCheckSeconds: Double = 30
    public var stateCheckEverySeconds: Double = 60
    public var maxStateChecks = 5
    /// Resume a dropped stream with `Last-Event-ID`, but only when the
    /// server announces that it resumes streams (no vendor text does: the
    /// simulator's lenient profile) ...
    public var resumeWhenAnnounced = true
    public var reconnectDelaySeconds: Double = 2
    /// ... at most this many times, before the state checks.
    public var maxReconnects = 3
    /// Render status polls: interval and limit. Skill 1.9: every 30 s, at
    /// most 10; a server may announce its own (the reference's 10 s × 30).
    public var renderPollSeconds: Double = 30
    public var maxRenderPolls = 10
    /// The hard limit on an event stream (skill 1.9: `--max-time 900`).
    public var streamTimeoutSeconds: Double = 900

    public init() {}

    /// Every rule off: the client reports each error as it comes.
    public static var none: RecoveryPolicy {
        var policy = RecoveryPolicy()
        policy.renewTokenOn1001 = false
        policy.newSessionOn1002 = false
        policy.retryOn429 = false
        policy.retryRender = false
        policy.pollStateAfterSilentClose = false
        policy.checkStateAfterLostStream = false
        policy.resumeWhenAnnounced = false
        return policy
    }
}

/// What a server announces of its own rules (the simulator, at
/// `/_nemosim/health`); production announces nothing, and the client keeps
/// the vendor's rules.
public struct AnnouncedRules: Sendable, Hashable {
    /// The server resumes a dropped stream for a request with `Last-Event-ID`.
    public var streamResume = false
    public var renderPollSeconds: Double?
    public var maxRenderPolls: Int?
    public var streamTimeoutSeconds: Double?

    public init(streamResume: Bool = false, renderPollSeconds: Double? = nil, maxRenderPolls: Int? = nil, streamTimeoutSeconds: Double? = nil) {
        self.streamResume = streamResume
        self.renderPollSeconds = renderPollSeconds
        self.maxRenderPolls = maxRenderPolls
        self.streamTimeoutSeconds = streamTimeoutSeconds
    }

    /// The rules a `/_nemosim/health` answer announces in `client_rules`;
    /// a value out of its range is ignored (the vendor's rule stands).
    public init(health: JSONValue) {
        let rules = health["client_rules"]
        func seconds(_ key: String, _ range: ClosedRange<Double>) -> Double? {
            rules?[key]?.doubleValue.flatMap { range.contains($0) ? $0 : nil }
        }
        streamResume = rules?["stream_resume"]?.boolValue ?? false
        renderPollSeconds = seconds("render_poll_interval_seconds", 0.001...3600)
        maxRenderPolls = seconds("render_max_polls", 1...10_000).map { Int($0) }
        streamTimeoutSeconds = seconds("client_stream_timeout_seconds", 1...86_400)
    }
}

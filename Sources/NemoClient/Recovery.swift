import NemoCore

/// The vendor's recovery rules as a state machine: told what just happened
/// to a call (an answer with its envelope code and HTTP status, a stream's
/// ending, a state query's result), it returns what to do next. It does no
/// I/O and reads no clock, so every rule is tested without a server; the
/// client's request and message loops only carry its actions out.
///
/// One value per call: each rule applies at most as often as the policy
/// allows within that call.
public struct Recovery: Sendable {
    /// What kind of call this is.
    public enum Call: Sendable, Hashable {
        /// A request answered whole. `sessionBound`: a 1002 can be mended
        /// with a new session. `issuesToken`: the token call itself (a 1001
        /// there cannot be mended with a new token).
        case request(sessionBound: Bool, issuesToken: Bool)
        /// A message on `/run_sse`.
        case message
    }

    /// What happened.
    public enum Event: Sendable, Hashable {
        /// A whole answer came back (for a message: a JSON answer instead of
        /// the stream, so nothing started).
        case answered(status: Int, code: ErrorCode?)
        /// The stream ended when the server closed it.
        case streamClosed(sawText: Bool)
        /// The stream broke off; the last event id it carried, if any.
        case streamDropped(lastEventID: String?)
        /// Heartbeats only, for longer than the policy allows.
        case streamTimedOut
        /// A state query after a silent close or a lost stream: whether the
        /// draft changed (with every stage complete) since the message.
        case stateChecked(changed: Bool)
    }

    /// What to do next.
    public enum Action: Sendable, Hashable {
        /// The answer stands: return it, success or error.
        case accept
        /// Get a new token with the same client id, then send again.
        case renewToken
        /// Create a new session, then send again.
        case newSession
        /// Wait this many API seconds, then send again.
        case waitAndRetry(seconds: Double, reason: String)
        /// Open the stream again after this wait, resuming after the event id.
        case reconnect(attempt: Int, lastEventID: String, after: Double)
        /// Query the session's state after this wait.
        case pollState(after: Double)
        /// The message is over, ended this way.
        case finish(MessageOutcome.Ending)
        /// The rules have nothing more to try: report this.
        case giveUp(String)
    }

    public let policy: RecoveryPolicy
    public let call: Call
    /// The server resumes dropped streams (it said so).
    public let serverResumes: Bool
    private var renewedToken = false
    private var renewedSession = false
    private var waitedForRateLimit = false
    /// A stream carried an event: a new session would lose the operation.
    private var streamed = false
    private var reconnects = 0
    private var stateChecks = 0
    /// Why the state is being checked (the ending to report).
    private var checking: MessageOutcome.Ending?

    public init(policy: RecoveryPolicy, call: Call, serverResumes: Bool = false) {
        self.policy = policy
        self.call = call
        self.serverResumes = serverResumes
    }

    /// How many times the stream was reconnected.
    public var reconnectCount: Int { reconnects }

    /// The next action after `event`. A message is never sent again once
    /// its stream has begun: a lost stream is followed by state checks
    /// (after 30 s, then every 60 s, at most 5), or, only where the server
    /// resumes streams, by reconnects that name the last event.
    public mutating func next(after event: Event) -> Action {
        switch event {
        case .answered(let status, let code):
            return answered(status: status, code: code)
        case .streamClosed(let sawText):
            streamed = true
            if sawText { return .finish(.text) }
            guard policy.pollStateAfterSilentClose else { return .finish(.silentClose) }
            return startChecking(.silentClose, after: 0)
        case .streamDropped(let lastEventID):
            if lastEventID != nil { streamed = true }
            if serverResumes, policy.resumeWhenAnnounced, let id = lastEventID, reconnects < policy.maxReconnects {
                reconnects += 1
                return .reconnect(attempt: reconnects, lastEventID: id, after: policy.reconnectDelaySeconds)
            }
            guard policy.checkStateAfterLostStream else { return .giveUp("the event stream broke off") }
            return startChecking(.lost, after: policy.firstStateCheckSeconds)
        case .streamTimedOut:
            streamed = true
            guard policy.checkStateAfterLostStream else { return .finish(.timedOut) }
            return startChecking(.timedOut, after: policy.firstStateCheckSeconds)
        case .stateChecked(let changed):
            let ending = checking ?? .lost
            if changed { return .finish(ending) }
            guard stateChecks < policy.maxStateChecks else {
                if ending == .silentClose { return .finish(.silentClose) }
                return .giveUp(
                    "the stream was lost and the session's state did not change in \(stateChecks) checks: the work may have failed")
            }
            stateChecks += 1
            return .pollState(after: policy.stateCheckEverySeconds)
        }
    }

    private mutating func startChecking(_ ending: MessageOutcome.Ending, after delay: Double) -> Action {
        checking = ending
        guard policy.maxStateChecks > 0 else {
            return ending == .silentClose || ending == .timedOut ? .finish(ending) : .giveUp("the event stream broke off")
        }
        stateChecks = 1
        return .pollState(after: delay)
    }

    /// 1001 → a new token (not for the token call itself); 1002 → a new
    /// session (for a call bound to one, and for a message before its
    /// stream started); 429 → wait, then once more. Each at most once.
    private mutating func answered(status: Int, code: ErrorCode?) -> Action {
        let issuesToken: Bool
        let sessionBound: Bool
        switch call {
        case .request(let bound, let issues): (sessionBound, issuesToken) = (bound, issues)
        case .message: (sessionBound, issuesToken) = (!streamed, false)
        }
        if code == .tokenInvalid, policy.renewTokenOn1001, !renewedToken, !issuesToken {
            renewedToken = true
            return .renewToken
        }
        if code == .sessionNotFound, policy.newSessionOn1002, sessionBound, !renewedSession {
            renewedSession = true
            return .newSession
        }
        if status == 429, policy.retryOn429, !waitedForRateLimit {
            waitedForRateLimit = true
            return .waitAndRetry(seconds: policy.rateLimitWaitSeconds, reason: "429 rate limited")
        }
        return .accept
    }
}

/// The watch over a running stream: "still working" every so often while
/// no text has come, and a timeout after heartbeats only for too long.
/// Times are API seconds on the caller's clock.
public struct StreamWatchdog: Sendable {
    public enum Verdict: Sendable, Hashable {
        case quiet
        /// Tell the user the work goes on (seconds since the message).
        case stillWorking(seconds: Double)
        case timedOut
    }

    public let policy: RecoveryPolicy
    private let start: Double
    private var lastProgress: Double
    private var lastNotice: Double
    private var sawText = false

    public init(policy: RecoveryPolicy, start: Double) {
        self.policy = policy
        self.start = start
        lastProgress = start
        lastNotice = start
    }

    /// An event arrived. Heartbeats are not progress; text stops the notices.
    public mutating func saw(_ event: AgentEvent, at now: Double) {
        guard event != .heartbeat else { return }
        lastProgress = now
        if case .text = event, !event.isTemporaryIssueNotice { sawText = true }
    }

    /// A new attempt began (a reconnect, or a retry after a refusal): its
    /// heartbeat-only wait counts from now.
    public mutating func restarted(at now: Double) {
        lastProgress = max(lastProgress, now)
    }

    /// What to do at `now`.
    public mutating func check(at now: Double) -> Verdict {
        if now - lastProgress >= policy.heartbeatOnlyTimeoutSeconds { return .timedOut }
        if !sawText && now - lastNotice >= policy.stillWorkingEverySeconds {
            lastNotice = now
            return .stillWorking(seconds: (now - start).rounded())
        }
        return .quiet
    }

    /// How often to check: often enough for both rules.
    public var checkInterval: Double { min(policy.stillWorkingEverySeconds, policy.heartbeatOnlyTimeoutSeconds) / 12 }
}

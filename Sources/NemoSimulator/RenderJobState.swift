import NemoCore

/// A render job's timeline, decided at submission. Its status at any
/// simulated instant is a pure function of that timeline, so a job left
/// alone still completes (API.md: closing the client orphans the job).
struct RenderJobState: Sendable {
    var id: String
    var sessionID: String
    var userID: String
    var draft: Draft
    /// Simulated seconds since the clock's origin.
    var submittedAt: Double
    /// When processing starts (after the queue and any earlier job of the session).
    var startsAt: Double
    var duration: Double
    var fails: Bool
    var cancelledAt: Double?
    var downloadToken: String

    var endsAt: Double { startsAt + duration }

    func status(at now: Double) -> RenderStatus {
        if let cancelledAt, now >= cancelledAt { return .cancelled }
        if now < startsAt { return .pending }
        if now < endsAt { return .processing }
        return fails ? .failed : .completed
    }

    /// 5 while pending, rising through processing, 100 when completed.
    func progress(at now: Double) -> Int {
        switch status(at: now) {
        case .pending: return 5
        case .processing:
            let done = (now - startsAt) / max(duration, 0.001)
            return min(99, 5 + Int(done * 94))
        case .completed: return 100
        default:
            let end = cancelledAt ?? endsAt
            return min(99, 5 + Int(max(0, end - startsAt) / max(duration, 0.001) * 94))
        }
    }

    /// The job is holding the session's render slot at `now`.
    func isActive(at now: Double) -> Bool {
        let status = status(at: now)
        return status == .pending || status == .processing
    }
}

import Foundation
import NemoCore

/// When an entry of one of the simulation's tables may go.
struct Expiry: Sendable, Comparable {
    enum Table: UInt8, Sendable, Comparable {
        case token, claim, session, render, clientWindow, ipWindow
        static func < (a: Table, b: Table) -> Bool { a.rawValue < b.rawValue }
    }

    var time: Double
    var table: Table
    var key: String

    static func < (a: Expiry, b: Expiry) -> Bool { (a.time, a.table, a.key) < (b.time, b.table, b.key) }
}

/// Memory bounded by design: every table a client can grow either has a
/// limit (sessions, renders and media per account or session, parts per
/// upload, message size: profile keys) or an expiry. Expired tokens and
/// claims, idle sessions (their drafts, media and operations), finished
/// renders past their retention, and token-rate windows that have passed
/// are evicted by ``evictExpired()``, which ``settle()`` runs on every
/// call: each entry is scheduled once in a min-heap, so a call costs
/// nothing when nothing is due and O(log n) per evicted entry.
///
/// Accounts stay (about 200 bytes each): dropping one would hand its
/// client id fresh credits, which production would not. Their number grows
/// only as fast as the per-IP limits on new anonymous accounts allow.
extension Simulation {
    /// How long after its expiry a token or claim token is kept (it still
    /// says "expired" rather than "invalid" or "unknown" meanwhile).
    static let tokenGraceSeconds: Double = 86_400

    func scheduleExpiry(_ table: Expiry.Table, _ key: String, at time: Double) {
        expiries.insert(Expiry(time: time, table: table, key: key))
    }

    /// Evicts every entry whose time has come (see the extension's notes).
    func evictExpired() {
        let now = self.now
        while let due = expiries.min, due.time <= now {
            _ = expiries.popMin()
            switch due.table {
            case .token: evictToken(due.key, now: now)
            case .claim:
                if let record = claims[due.key], now >= record.expiresAt + Self.tokenGraceSeconds { claims[due.key] = nil }
            case .session: evictSession(due.key, now: now)
            case .render: evictRender(due.key, now: now)
            case .clientWindow:
                let window = profile.tokenClientWindowSeconds
                let kept = issueTimesByClient[due.key, default: []].filter { now - $0 < window }
                issueTimesByClient[due.key] = kept.isEmpty ? nil : kept
                if let oldest = kept.min() { scheduleExpiry(.clientWindow, due.key, at: oldest + window) }
            case .ipWindow:
                let window = max(profile.tokenIPWindowSeconds, 3600)
                let kept = newAccountTimesByIP[due.key, default: []].filter { now - $0 < window }
                newAccountTimesByIP[due.key] = kept.isEmpty ? nil : kept
                if let oldest = kept.min() { scheduleExpiry(.ipWindow, due.key, at: oldest + window) }
            }
        }
    }

    private func evictToken(_ token: String, now: Double) {
        guard let record = tokens[token] else { return }
        let end = record.expiresAt + Self.tokenGraceSeconds
        guard now >= end else { return scheduleExpiry(.token, token, at: end) }
        tokens[token] = nil
        if let id = record.apiTokenID { apiTokens[id] = nil }
    }

    private func evictSession(_ sessionID: String, now: Double) {
        guard let session = sessions[sessionID] else { return }
        let end = session.lastActivity + profile.sessionIdleTTLSeconds
        if now <= end || unsettledOperations[sessionID] != nil {
            // Still in use (or its work still running): look again later.
            return scheduleExpiry(.session, sessionID, at: max(end, now + 60))
        }
        removeSession(sessionID)
    }

    private func evictRender(_ id: String, now: Double) {
        guard let job = renders[id] else { return }
        let end = (job.cancelledAt ?? job.endsAt) + max(profile.renderRetentionSeconds, profile.downloadURLTTLSeconds)
        guard now >= end, job.status(at: now).isFinal else { return scheduleExpiry(.render, id, at: max(end, now + 60)) }
        renders[id] = nil
        rendersBySession[job.sessionID]?.remove(id)
        if rendersBySession[job.sessionID]?.isEmpty == true { rendersBySession[job.sessionID] = nil }
        accounts[job.userID]?.heldRenders -= 1
    }

    /// Forgets a session (idle past its window): its draft, media and operations.
    func removeSession(_ sessionID: String) {
        guard let session = sessions.removeValue(forKey: sessionID) else { return }
        accounts[session.userID]?.liveSessions -= 1
    }

    /// How many entries each table holds (for the admin API and tests).
    public var tableSizes: [String: Int] {
        [
            "tokens": tokens.count, "claims": claims.count, "api_tokens": apiTokens.count, "accounts": accounts.count,
            "sessions": sessions.count, "renders": renders.count, "client_windows": issueTimesByClient.count,
            "ip_windows": newAccountTimesByIP.count, "scheduled_expiries": expiries.count, "due_effects": dueEffects.count,
        ]
    }
}

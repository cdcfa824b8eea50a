import Foundation
import NemoCore

extension Simulation {
    /// Forgets every account, token, session, render, fault and journal entry
    /// (the profile and the clock stay).
    public func reset() {
        tokens = [:]
        claims = [:]
        apiTokens = [:]
        accounts = [:]
        userByClient = [:]
        newAccountTimesByIP = [:]
        issueTimesByClient = [:]
        sessions = [:]
        renders = [:]
        dueEffects.removeAll()
        unsettledOperations = [:]
        expiries.removeAll()
        rendersBySession = [:]
        faults.clear()
        journal.clear()
    }

    /// Jumps simulated time forward and applies what became due.
    public func advanceClock(by seconds: Double) throws(SimulatorFailure) {
        guard seconds.isFinite, seconds >= 0 else { throw .badRequest("seconds must be a number, 0 or more, e.g. {\"seconds\": 3600}") }
        let limit = CheckedNumber.maximumSimulatedSeconds
        guard clock.elapsed + seconds <= limit else {
            throw .badRequest(
                "the simulated clock may run at most \(Int(limit)) s (about 317 years) from its start; it is at \(Int(clock.elapsed)) s, so advance by at most \(Int(max(0, limit - clock.elapsed))) s")
        }
        clock.advance(by: seconds)
        settle()
    }

    /// Puts `profile` in force (a shipped one, or one read from a file).
    @discardableResult
    public nonisolated func setProfile(_ profile: BehaviourProfile) -> BehaviourProfile {
        profileStorage.withLock {
            $0 = profile
            journal.setLimits(capacity: profile.journalEntries, maximumBytes: profile.journalBytes)
        }
        return profile
    }

    /// Replaces the profile with `patch` merged in (validated).
    public nonisolated func patchProfile(_ patch: JSONValue) throws -> BehaviourProfile {
        try profileStorage.withLock { profile in
            profile = try profile.merging(patch)
            journal.setLimits(capacity: profile.journalEntries, maximumBytes: profile.journalBytes)
            return profile
        }
    }

    /// Sets an account's available credits.
    public func setCredits(userID: String, available: Int) throws(SimulatorFailure) {
        guard accounts[userID] != nil else { throw .http(404, "no account \(userID): issue a token first") }
        guard available >= 0 else { throw .badRequest("available must be 0 or more") }
        accounts[userID]!.available = available
    }

    /// Revokes a token: it then gets 1001.
    public func revoke(token: String) throws(SimulatorFailure) {
        guard tokens[token] != nil else { throw .http(404, "no such token") }
        tokens[token]!.revoked = true
    }

    /// Limits a token's scopes (for testing 403).
    public func setScopes(token: String, scopes: [TokenScope]) throws(SimulatorFailure) {
        guard tokens[token] != nil else { throw .http(404, "no such token") }
        tokens[token]!.scopes = scopes
    }

    /// What the simulator knows of a token: its user, scopes, kind and
    /// expiry (the token goes in a POST body, never in a URL).
    public func inspect(token: String) throws(SimulatorFailure) -> JSONValue {
        guard let record = tokens[token] else { throw .http(404, "no such token") }
        return [
            "user_id": .string(record.userID), "scopes": .array(record.scopes.map { .string($0.rawValue) }),
            "anonymous": .bool(record.anonymous), "revoked": .bool(record.revoked),
            "expires_at": .string(ISO8601.string(from: date(record.expiresAt))),
        ]
    }

    /// The simulated date now, ISO 8601.
    public var nowISO8601: String { ISO8601.string(from: clock.now) }
}

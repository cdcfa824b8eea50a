import Foundation
import NemoCore

extension Simulation {
    /// Forgets every account, token, session, render, fault and journal entry
    /// (the profile and the clock stay).
    public func reset() {
        tokens = [:]
        accounts = [:]
        userByClient = [:]
        newAccountTimesByIP = [:]
        reissueTimesByClient = [:]
        sessions = [:]
        renders = [:]
        faults = []
        journalEntries = []
    }

    /// Jumps simulated time forward and applies what became due.
    public func advanceClock(by seconds: Double) throws(SimulatorFailure) {
        guard seconds.isFinite, seconds >= 0 else { throw .badRequest("seconds must be a number, 0 or more") }
        clock.advance(by: seconds)
        settle()
    }

    /// Replaces the profile with `patch` merged in (validated).
    public func patchProfile(_ patch: JSONValue) throws -> BehaviourProfile {
        profile = try profile.merging(patch)
        return profile
    }

    public func replaceProfile(_ profile: BehaviourProfile) {
        self.profile = profile
    }

    /// Arms a fault; returns it with its id.
    @discardableResult
    public func armFault(_ rule: FaultRule) -> FaultRule {
        var rule = rule
        rule.id = nextFaultID
        nextFaultID += 1
        faults.append(rule)
        return rule
    }

    public var armedFaults: [FaultRule] { faults }

    public func clearFaults() { faults = [] }

    /// The fault for this request, if one matches (its count goes down).
    public func takeFault(method: String, path: String) -> FaultResponse? {
        guard let index = faults.firstIndex(where: { $0.match.matches(method: method, path: path) }) else { return nil }
        let response = faults[index].respond
        if let times = faults[index].times {
            if times <= 1 { faults.remove(at: index) } else { faults[index].times = times - 1 }
        }
        return response
    }

    public func record(_ entry: JournalEntry) {
        journalEntries.append(entry)
        if journalEntries.count > journalLimit { journalEntries.removeFirst(journalEntries.count - journalLimit) }
    }

    public var journal: [JournalEntry] { journalEntries }

    public func clearJournal() { journalEntries = [] }

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

    /// The simulated date now, ISO 8601.
    public var nowISO8601: String { ISO8601.string(from: clock.now) }
}

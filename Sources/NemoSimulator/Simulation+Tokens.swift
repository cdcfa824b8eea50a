import Foundation
import NemoCore

/// A length of time in words: "7 days", "1 hour", "90 seconds".
func spelledOut(seconds: Double) -> String {
    func plural(_ n: Int, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s")" }
    let whole = Int(seconds.rounded())
    if whole >= 86400 && whole % 86400 == 0 { return plural(whole / 86400, "day") }
    if whole >= 3600 && whole % 3600 == 0 { return plural(whole / 3600, "hour") }
    if whole >= 60 && whole % 60 == 0 { return plural(whole / 60, "minute") }
    return plural(whole, "second")
}

extension Simulation {
    // MARK: Anonymous tokens

    /// `POST /api/auth/anonymous-token`. A new client id gets a new anonymous
    /// account with the profile's starting credits (counted against the IP's
    /// limits); a known client id gets a fresh token for the same account,
    /// within the profile's per-client limit (strict: 1 per 7 days, so the
    /// way to a new token is its expiry).
    public func issueToken(clientID: String?, clientIP: String) throws(SimulatorFailure) -> AnonymousToken {
        settle()
        guard let clientID = clientID?.trimmingCharacters(in: .whitespaces), !clientID.isEmpty else {
            throw .http(400, "X-Client-Id header is required: generate a UUID, send it as X-Client-Id, and retry")
        }
        guard clientID.count <= profile.clientIDMaxLength else {
            throw .badRequest("X-Client-Id is longer than \(profile.clientIDMaxLength) characters: use a UUID or another stable id of up to \(profile.clientIDMaxLength)")
        }
        let now = self.now
        let window = profile.tokenClientWindowSeconds
        let issued = issueTimesByClient[clientID, default: []].filter { now - $0 < window }
        guard issued.count < profile.tokensPerClient else {
            let next = (issued.min() ?? now) + window
            let limit = profile.tokensPerClient == 1 ? "1 token" : "\(profile.tokensPerClient) tokens"
            throw .http(
                429,
                "\(limit) per client id per \(spelledOut(seconds: window)): this client id was last given a token at \(ISO8601.string(from: date(issued.max() ?? now))); "
                    + "the next is possible at \(ISO8601.string(from: date(next))). Keep using the token you have (NEMO_TOKEN); wait 30 s and retry once only if this was a one-off")
        }
        let userID: String
        if let existing = userByClient[clientID] {
            userID = existing
        } else {
            // Oldest first (the clock only moves forward): counted by binary
            // search, so a profile that lifts the limits (a benchmark's) does
            // not make each new account scan every one before it.
            var times = newAccountTimesByIP.removeValue(forKey: clientIP) ?? []
            defer { if !times.isEmpty { newAccountTimesByIP[clientIP] = times } }
            let lastHour = times.count - Self.firstIndex(in: times, after: now - 3600)
            let lastWindow = times.count - Self.firstIndex(in: times, after: now - profile.tokenIPWindowSeconds)
            guard lastHour < profile.tokensPerIPPerHour else {
                throw .http(429, "too many anonymous tokens from this IP in the last hour (limit \(profile.tokensPerIPPerHour)): wait and retry")
            }
            guard lastWindow < profile.tokensPerIPPerWindow else {
                throw .http(
                    429,
                    "too many anonymous tokens from this IP in \(spelledOut(seconds: profile.tokenIPWindowSeconds)) (limit \(profile.tokensPerIPPerWindow)): wait and retry")
            }
            let wasEmpty = times.isEmpty
            // What is older than both windows goes, in one move once it is half of them (amortised O(1)).
            let expired = Self.firstIndex(in: times, after: now - max(profile.tokenIPWindowSeconds, 3600))
            if expired > 0, expired * 2 >= times.count { times.removeFirst(expired) }
            times.append(now)
            if wasEmpty { scheduleExpiry(.ipWindow, clientIP, at: now + max(profile.tokenIPWindowSeconds, 3600)) }
            var random = SeededRandom(seed: seed, subject: "user/" + clientID)
            userID = "anon_" + random.hex(12)
            userByClient[clientID] = userID
            accounts[userID] = Account(userID: userID, clientID: clientID, available: profile.initialCredits, frozen: 0)
        }
        if issued.isEmpty { scheduleExpiry(.clientWindow, clientID, at: now + window) }
        issueTimesByClient[clientID] = issued + [now]
        journalNote?.account(userID)
        accounts[userID]!.tokensIssued += 1
        var random = SeededRandom(seed: seed, subject: "token/" + clientID, index: accounts[userID]!.tokensIssued)
        let token = userTokenPrefix + random.hex(32)
        let expiresAt = now + profile.tokenTTLSeconds
        tokens[token] = TokenRecord(userID: userID, expiresAt: expiresAt, scopes: profile.anonymousScopes, anonymous: true)
        scheduleExpiry(.token, token, at: expiresAt + Self.tokenGraceSeconds)
        let balance = accounts[userID]!
        return AnonymousToken(token: token, userID: userID, expiresAt: ISO8601.string(from: date(expiresAt)), credits: balance.available)
    }

    // MARK: Checking a call

    /// Checks a call: its bearer token (1001 when missing, unknown, expired,
    /// revoked, or a claim token), its attribution headers as the profile
    /// asks (an export without them is HTTP 402, any other call a 1001 that
    /// names them; the token stays valid), then the scope (HTTP 403).
    /// Returns the caller's user id.
    func authenticate(_ token: String?, scope: TokenScope?, missingAttribution: [String] = [], export: Bool = false) throws(SimulatorFailure) -> String {
        guard let token, !token.isEmpty else {
            throw .tokenInvalid("missing Authorization: Bearer token: get an anonymous token first")
        }
        guard let record = tokens[token] else {
            if token.hasPrefix(claimTokenPrefix) {
                throw .tokenInvalid("a claim token (clm_) only opens the project in a browser; it is not an API token: use your nmv_usr_ token")
            }
            throw .tokenInvalid("token invalid: get a new anonymous token with the same client id")
        }
        journalNote?.account(record.userID)
        if record.revoked { throw .tokenInvalid("token revoked: get a new anonymous token with the same client id") }
        if now >= record.expiresAt { throw .tokenInvalid("token expired: get a new anonymous token with the same client id") }
        if !missingAttribution.isEmpty {
            let missing = missingAttribution.joined(separator: ", ")
            switch (profile.attributionRequired, export) {
            case (.everyCall, true), (.export, true):
                throw .http(402, "export needs the attribution headers; missing: \(missing). This is not a credit problem")
            case (.everyCall, false):
                throw .tokenInvalid(
                    "missing attribution headers: \(missing): send X-Skill-Source, X-Skill-Version and X-Skill-Platform on every call (the token itself is valid)")
            default:
                break
            }
        }
        if let scope, !scope.isGranted(by: record.scopes), !(scope == .render && record.anonymous && profile.anonymousMayRender) {
            throw .http(403, "token lacks the \(scope.rawValue) scope: get a token with it; retrying does not help")
        }
        return record.userID
    }

    /// The index of the first of `times` (ascending) later than `moment`.
    static func firstIndex(in times: [Double], after moment: Double) -> Int {
        var (low, high) = (0, times.count)
        while low < high {
            let middle = (low + high) / 2
            if times[middle] > moment { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Resolves a `{user_id}` path segment: `me`, or the token's own user id.
    func resolveUser(_ userPath: String, token: String?, scope: TokenScope?, missingAttribution: [String] = []) throws(SimulatorFailure) -> String {
        let userID = try authenticate(token, scope: scope, missingAttribution: missingAttribution)
        guard userPath == "me" || userPath == userID else {
            throw .tokenInvalid("user \(userPath) is not the owner of this token: use \"me\" or your own user id")
        }
        return userID
    }

    // MARK: Claim tokens

    /// `POST /api/auth/claim-token`: a `clm_` token that opens one session's
    /// project in the web app (`<web>/workspace/claim?ct=<token>`), reusable
    /// until it expires, with no API access.
    public func claimToken(token: String?, missingAttribution: [String] = [], taskID: String, sessionID: String) throws(SimulatorFailure) -> ClaimToken {
        settle()
        let userID = try authenticate(token, scope: Route.claimToken.scope, missingAttribution: missingAttribution)
        _ = try touchSession(sessionID, userID: userID)
        guard sessions[sessionID]!.taskID == taskID else {
            throw .code(.sessionNotFound, "task \(taskID) is not the task of session \(sessionID): send the task_id and session_id that session creation gave")
        }
        accounts[userID]!.tokensIssued += 1
        var random = SeededRandom(seed: seed, subject: "claim/" + sessionID, index: accounts[userID]!.tokensIssued)
        let claim = claimTokenPrefix + random.hex(32)
        claims[claim] = ClaimRecord(userID: userID, sessionID: sessionID, taskID: taskID, expiresAt: now + profile.claimTokenTTLSeconds)
        scheduleExpiry(.claim, claim, at: now + profile.claimTokenTTLSeconds + Self.tokenGraceSeconds)
        return ClaimToken(claimToken: claim, expiresIn: Int(profile.claimTokenTTLSeconds.rounded()))
    }

    /// What a claim link opens, when its token is valid (the web app's side,
    /// for checking links).
    public func claim(_ claimToken: String) throws(SimulatorFailure) -> JSONValue {
        guard let record = claims[claimToken] else { throw .http(404, "no such claim token") }
        guard now < record.expiresAt else { throw .http(410, "the claim token expired: get a new one with POST /api/auth/claim-token") }
        return [
            "user_id": .string(record.userID), "session_id": .string(record.sessionID), "task_id": .string(record.taskID),
            "expires_at": .string(ISO8601.string(from: date(record.expiresAt))),
        ]
    }

    // MARK: Registered accounts and their tokens

    /// A registered account (made through the admin API, as a web sign-up
    /// would): its user id and a token with every scope.
    public func registerAccount(credits: Int, freePlan: Bool) throws(SimulatorFailure) -> (userID: String, token: String) {
        guard credits >= 0, credits <= 1_000_000_000 else { throw .badRequest("credits must be 0 to 1000000000") }
        var random = SeededRandom(seed: seed, subject: "registered", index: accounts.count + 1)
        var userID = "usr_" + random.hex(12)
        while accounts[userID] != nil { userID = "usr_" + random.hex(12) }
        accounts[userID] = Account(userID: userID, clientID: nil, available: credits, frozen: 0, registered: true, freePlan: freePlan)
        let token = userTokenPrefix + random.hex(32)
        tokens[token] = TokenRecord(userID: userID, expiresAt: now + profile.tokenTTLSeconds, scopes: [.all], anonymous: false)
        scheduleExpiry(.token, token, at: now + profile.tokenTTLSeconds + Self.tokenGraceSeconds)
        return (userID, token)
    }

    /// `POST /api/tokens`: a token of the caller's, with scopes no wider
    /// than the caller's own. Registered accounts only.
    public func createAPIToken(
        token: String?, missingAttribution: [String] = [], name: String, scopes: [TokenScope], expiresInDays: Int
    ) throws(SimulatorFailure) -> JSONValue {
        settle()
        let userID = try registeredCaller(token, missingAttribution: missingAttribution, scope: Route.createToken.scope)
        guard (1...100).contains(name.count) else { throw .badRequest("name must be 1 to 100 characters") }
        guard !scopes.isEmpty else { throw .badRequest("scopes must name at least one of read, write, upload, render, *") }
        guard (1...3650).contains(expiresInDays) else { throw .badRequest("expires_in_days must be 1 to 3650") }
        let own = tokens[token ?? ""]?.scopes ?? []
        for scope in scopes where !(scope == .all ? own.contains(.all) : scope.isGranted(by: own)) {
            throw .http(403, "a token cannot grant the \(scope.rawValue) scope its maker lacks")
        }
        var random = SeededRandom(seed: seed, subject: "api-token/" + userID, index: apiTokens.count + 1)
        let id = "tok_" + random.hex(16)
        let value = userTokenPrefix + random.hex(32)
        let expiresAt = now + Double(expiresInDays) * 86400
        apiTokens[id] = APITokenRecord(id: id, userID: userID, name: name, token: value, scopes: scopes, createdAt: now, expiresAt: expiresAt)
        tokens[value] = TokenRecord(userID: userID, expiresAt: expiresAt, scopes: scopes, anonymous: false, apiTokenID: id)
        scheduleExpiry(.token, value, at: expiresAt + Self.tokenGraceSeconds)
        var listed = describe(apiTokens[id]!)
        listed["token"] = .string(value)
        return .object(listed)
    }

    /// `GET /api/tokens`: the caller's tokens, never their values.
    public func listAPITokens(token: String?, missingAttribution: [String] = []) throws(SimulatorFailure) -> JSONValue {
        settle()
        let userID = try registeredCaller(token, missingAttribution: missingAttribution, scope: Route.listTokens.scope)
        let mine = apiTokens.values.filter { $0.userID == userID }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        return ["tokens": .array(mine.map { .object(describe($0)) })]
    }

    /// `POST /api/tokens/{id}/revoke`: the token then gets 1001.
    public func revokeAPIToken(token: String?, missingAttribution: [String] = [], id: String) throws(SimulatorFailure) -> JSONValue {
        settle()
        let userID = try registeredCaller(token, missingAttribution: missingAttribution, scope: Route.revokeToken.scope)
        guard let record = apiTokens[id], record.userID == userID else { throw .http(404, "no token \(id) of yours: list them with GET /api/tokens") }
        apiTokens[id]!.revoked = true
        tokens[record.token]?.revoked = true
        return ["id": .string(id), "revoked": true]
    }

    private func registeredCaller(_ token: String?, missingAttribution: [String], scope: TokenScope?) throws(SimulatorFailure) -> String {
        let userID = try authenticate(token, scope: scope, missingAttribution: missingAttribution)
        guard accounts[userID]?.registered == true else {
            throw .http(403, "token management needs a registered account: register at \(profile.webAppURL)/register?bind=\(userID)")
        }
        return userID
    }

    private func describe(_ record: APITokenRecord) -> [String: JSONValue] {
        [
            "id": .string(record.id), "name": .string(record.name), "scopes": .array(record.scopes.map { .string($0.rawValue) }),
            "created_at": .string(ISO8601.string(from: date(record.createdAt))),
            "expires_at": .string(ISO8601.string(from: date(record.expiresAt))), "revoked": .bool(record.revoked),
        ]
    }
}

import Foundation

/// `data` of `POST /api/auth/anonymous-token`.
public struct AnonymousToken: Sendable, Hashable, Codable {
    /// `nmv_usr_<opaque>`. Never print or log it.
    public var token: String
    /// e.g. `anon_abc123`.
    public var userID: String
    /// ISO 8601, as sent.
    public var expiresAt: String?
    /// Starting credits (100).
    public var credits: Int?

    public init(token: String, userID: String, expiresAt: String?, credits: Int?) {
        self.token = token
        self.userID = userID
        self.expiresAt = expiresAt
        self.credits = credits
    }

    /// `expires_at` parsed, when it is valid ISO 8601.
    public var expiryDate: Date? { expiresAt.flatMap(ISO8601.date(from:)) }

    private enum CodingKeys: String, CodingKey {
        case token, userID = "user_id", expiresAt = "expires_at", credits
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        token = try container.decode(String.self, forKey: .token)
        userID = container.lenientString(.userID) ?? ""
        expiresAt = container.lenientString(.expiresAt)
        credits = container.lenientInt(.credits)
    }
}

/// The prefix of user tokens.
public let userTokenPrefix = "nmv_usr_"

/// The prefix of claim tokens (a web link's `?ct=`; no API access).
public let claimTokenPrefix = "clm_"

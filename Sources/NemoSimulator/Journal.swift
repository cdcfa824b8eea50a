import Foundation
import NemoCore

/// One request the simulator saw. Tokens and other secrets are never kept.
public struct JournalEntry: Sendable, Hashable, Codable {
    /// Simulated time of arrival.
    public var time: String
    public var method: String
    /// The path, without the query string (signed query strings are secrets).
    public var path: String
    public var status: Int
    /// The envelope code, when the response had one.
    public var code: Int?
    /// Real time taken to answer (or to finish streaming), ms.
    public var durationMs: Double
    /// The attribution headers this request lacked.
    public var missingAttribution: [String]
    /// A fault applied to it, if any.
    public var fault: String?

    enum CodingKeys: String, CodingKey {
        case time, method, path, status, code
        case durationMs = "duration_ms"
        case missingAttribution = "missing_attribution"
        case fault
    }
}

import Foundation
import NemoCore
import Synchronization

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

/// The request journal: a lock-protected ring buffer of the latest entries,
/// written from the HTTP front without a hop to the simulation actor.
public final class RequestJournal: Sendable {
    struct Record: Sendable {
        var elapsed: Double
        var method: String
        var path: String
        var status: Int
        var code: Int?
        var durationMs: Double
        var missingAttribution: [String]
        var fault: String?
    }

    private struct Ring: Sendable {
        var records: [Record] = []
        var next = 0
    }

    /// Entries kept at most (the oldest are dropped first).
    public let capacity: Int
    private let ring = Mutex(Ring())

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The longest path (and method) an entry keeps, in bytes: longer ones
    /// are cut with a marker, so the journal's memory is bounded by
    /// ``capacity`` × about 2.5 KiB, whatever clients send.
    public static let maximumPathBytes = 2048
    static let maximumMethodBytes = 32

    /// `text` cut to `limit` bytes (on a character boundary), with a marker
    /// saying how much was cut.
    static func truncated(_ text: String, to limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = Substring(text).prefix(limit)
        while kept.utf8.count > limit { kept = kept.dropLast() }
        return kept + "…[\(text.utf8.count - kept.utf8.count) more bytes]"
    }

    func append(_ record: Record) {
        var record = record
        record.path = Self.truncated(record.path, to: Self.maximumPathBytes)
        record.method = Self.truncated(record.method, to: Self.maximumMethodBytes)
        if let fault = record.fault { record.fault = Self.truncated(fault, to: Self.maximumPathBytes) }
        ring.withLock { ring in
            if ring.records.count < capacity {
                ring.records.append(record)
            } else {
                ring.records[ring.next] = record
                ring.next = (ring.next + 1) % capacity
            }
        }
    }

    /// The entries, oldest first, with times as ISO 8601 on `clock`.
    public func entries(clock: any SimulationClock) -> [JournalEntry] {
        let records = ring.withLock { Array($0.records[$0.next...] + $0.records[..<$0.next]) }
        return records.map {
            JournalEntry(
                time: ISO8601.string(from: clock.origin.addingTimeInterval($0.elapsed)), method: $0.method, path: $0.path,
                status: $0.status, code: $0.code, durationMs: $0.durationMs, missingAttribution: $0.missingAttribution, fault: $0.fault)
        }
    }

    public func clear() {
        ring.withLock { $0 = Ring() }
    }
}

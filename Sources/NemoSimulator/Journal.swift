import Crypto
import Foundation
import HTTPTypes
import NIOCore
import NemoCore
import Synchronization

/// One request the simulator saw (journal version 2). Secrets never leave
/// the simulator: bearer tokens, client ids, credential query parameters,
/// token-shaped words and secret JSON values are replaced by placeholders
/// that are stable for the simulator's seed (the same token always gives
/// the same placeholder), so a test can tell "the same token" from "a new
/// one" without seeing either.
public struct JournalEntry: Sendable, Hashable, Codable {
    /// Numbers entries in the order they were completed (1, 2, ...); `since`
    /// in a query takes the entries after one.
    public var seq: Int
    /// Simulated time of arrival (ISO 8601).
    public var time: String
    /// Simulated seconds since the simulation's origin at arrival.
    public var simulatedSeconds: Double
    /// Simulated seconds when the answer was complete (an event stream:
    /// when it ended).
    public var simulatedEndSeconds: Double
    /// Real (wall clock) time of arrival (ISO 8601).
    public var wallTime: String
    /// The client's address (`127.0.0.1:54321`), when known.
    public var remote: String?
    public var method: String
    /// The path, without the query string.
    public var path: String
    /// The query string (without `?`), credentials redacted.
    public var query: String?
    /// The request headers, names in lower case (repeated ones joined with
    /// `, `), secrets redacted.
    public var headers: [String: String]
    /// What the request carried, when it had a body.
    public var body: Body?
    public var status: Int
    /// The envelope code, when the response had one.
    public var code: Int?
    /// Real time taken to answer (or to finish streaming), ms.
    public var durationMs: Double
    /// For an event stream: how it ended and how many events it sent.
    public var stream: Stream?
    /// For a message that started an operation: the simulated second its
    /// work ends (a stream may end before, silently or cut).
    public var operationEndsSeconds: Double?
    /// For a render call or a render download: the job, and its status as
    /// the answer gave it.
    public var render: Render?
    /// The account (user id) the request's token belongs to.
    public var account: String?
    /// The session the request named (created, used or not found).
    public var session: String?
    /// The attribution headers this request lacked.
    public var missingAttribution: [String]
    /// A fault applied to it, if any.
    public var fault: String?

    /// A request body: its size, the first 64 KiB as text (and as JSON when
    /// it parses), or for multipart the parts.
    public struct Body: Sendable, Hashable, Codable {
        public var size: Int
        public var truncated: Bool
        public var text: String?
        public var json: JSONValue?
        public var parts: [Part]?

        enum CodingKeys: String, CodingKey { case size, truncated, text, json, parts }

        public init(size: Int, truncated: Bool, text: String?, json: JSONValue?, parts: [Part]?) {
            self.size = size
            self.truncated = truncated
            self.text = text
            self.json = json
            self.parts = parts
        }
    }

    /// One part of a multipart body.
    public struct Part: Sendable, Hashable, Codable {
        public var name: String
        public var filename: String?
        public var size: Int
        /// For file parts only (a field's value may be a secret).
        public var sha256: String?

        public init(name: String, filename: String?, size: Int, sha256: String?) {
            self.name = name
            self.filename = filename
            self.size = size
            self.sha256 = sha256
        }
    }

    /// The render job a call acted on.
    public struct Render: Sendable, Hashable, Codable {
        public var id: String
        /// `pending`, `processing`, `completed`, `failed`, `cancelled` (nil for downloads).
        public var status: String?

        public init(id: String, status: String?) {
            self.id = id
            self.status = status
        }
    }

    /// How an event stream ended.
    public struct Stream: Sendable, Hashable, Codable {
        /// `server` (the operation's events were all sent), `silent` (the
        /// server closed it before the work ended, saying nothing), `fault`
        /// (a fault cut or stalled it), `client` (the client went away).
        public var ended: String
        /// Events sent (heartbeats included).
        public var events: Int

        public init(ended: String, events: Int) {
            self.ended = ended
            self.events = events
        }
    }

    public init(
        seq: Int, time: String, simulatedSeconds: Double, simulatedEndSeconds: Double, wallTime: String, remote: String?, method: String, path: String,
        query: String?, headers: [String: String], body: Body?, status: Int, code: Int?, durationMs: Double, stream: Stream?,
        operationEndsSeconds: Double?, render: Render? = nil, account: String?, session: String?, missingAttribution: [String], fault: String?
    ) {
        self.seq = seq
        self.time = time
        self.simulatedSeconds = simulatedSeconds
        self.simulatedEndSeconds = simulatedEndSeconds
        self.wallTime = wallTime
        self.remote = remote
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.status = status
        self.code = code
        self.durationMs = durationMs
        self.stream = stream
        self.operationEndsSeconds = operationEndsSeconds
        self.render = render
        self.account = account
        self.session = session
        self.missingAttribution = missingAttribution
        self.fault = fault
    }

    enum CodingKeys: String, CodingKey {
        case seq, time
        case simulatedSeconds = "simulated_seconds"
        case simulatedEndSeconds = "simulated_end_seconds"
        case wallTime = "wall_time"
        case remote, method, path, query, headers, body, status, code
        case durationMs = "duration_ms"
        case stream
        case operationEndsSeconds = "operation_ends_seconds"
        case render, account, session
        case missingAttribution = "missing_attribution"
        case fault
    }
}

/// What a request did, learnt while it is answered: the domain notes the
/// account and session it acted on, the handlers the body and how a stream
/// ended. The front sets ``current`` around a request's handling.
public final class JournalNote: Sendable {
    /// The note of the request being handled (nil outside one).
    @TaskLocal public static var current: JournalNote?

    enum StreamEnd: String, Sendable { case server, silent, fault, client }

    struct State: Sendable {
        var account: String?
        var session: String?
        var body: JournalBodyCapture?
        var streamEnd: StreamEnd?
        var events = 0
        var operationEnds: Double?
        var render: JournalEntry.Render?
    }

    let state = Mutex(State())
    /// The request's `Host` (authority), for the URLs handed out in answer.
    let host: String?

    public init(host: String? = nil) {
        self.host = host
    }

    func account(_ id: String) { state.withLock { $0.account = id } }
    func session(_ id: String) { state.withLock { $0.session = id } }

    /// A JSON (or other) body: its first ``RequestJournal/maximumBodyBytes``.
    func body(_ buffer: ByteBuffer) {
        let bytes = Array(buffer.readableBytesView.prefix(RequestJournal.maximumBodyBytes))
        state.withLock { if $0.body == nil { $0.body = .bytes(bytes, size: buffer.readableBytes) } }
    }

    /// A multipart body: its parts (at most ``RequestJournal/maximumParts`` kept).
    func parts(_ parts: [JournalEntry.Part], size: Int, count: Int) {
        state.withLock { $0.body = .parts(Array(parts.prefix(RequestJournal.maximumParts)), size: size, count: count) }
    }

    func streamEvent() { state.withLock { $0.events += 1 } }

    /// A render call acted on job `id`, whose status it answered.
    func render(id: String, status: String?) { state.withLock { $0.render = JournalEntry.Render(id: id, status: status) } }

    /// A message started an operation whose work ends at `ends` (simulated).
    func operation(endsAt ends: Double) { state.withLock { $0.operationEnds = ends } }

    /// The first reason a stream ended is the one kept.
    func streamEnded(_ end: StreamEnd) { state.withLock { if $0.streamEnd == nil { $0.streamEnd = end } } }
}

/// A body as captured (redacted only when read).
enum JournalBodyCapture: Sendable {
    case bytes([UInt8], size: Int)
    case parts([JournalEntry.Part], size: Int, count: Int)

    var keptBytes: Int {
        switch self {
        case .bytes(let bytes, _): bytes.count + 48
        case .parts(let parts, _, _):
            48 + parts.reduce(0) {
                $0 + MemoryLayout<JournalEntry.Part>.stride + RequestJournal.heapBytes($1.name) + RequestJournal.heapBytes($1.filename)
                    + RequestJournal.heapBytes($1.sha256)
            }
        }
    }
}

/// Which journal entries a query wants (`GET /_nemosim/journal?...`).
public struct JournalQuery: Sendable, Hashable {
    /// The method, any case.
    public var method: String?
    /// The path: exact, or a pattern where `*` stands for any characters.
    public var path: String?
    /// Only entries after this sequence number.
    public var since: Int?
    /// At most this many entries (the first after `since`; at most and by
    /// default ``RequestJournal/maximumPageEntries``).
    public var limit: Int?
    public var session: String?
    public var account: String?
    public var status: Int?
    /// The envelope code.
    public var code: Int?

    public init(
        method: String? = nil, path: String? = nil, since: Int? = nil, limit: Int? = nil, session: String? = nil, account: String? = nil,
        status: Int? = nil, code: Int? = nil
    ) {
        self.method = method
        self.path = path
        self.since = since
        self.limit = limit
        self.session = session
        self.account = account
        self.status = status
        self.code = code
    }

    public static let parameterNames = ["method", "path", "since", "limit", "session", "account", "status", "code"]

    /// Reads a query string's parameters; an unknown parameter or a bad
    /// number is an error that says what is accepted.
    public init(parameters: [(name: String, value: String)]) throws(SimulatorFailure) {
        self.init()
        for (name, value) in parameters {
            func number(_ range: ClosedRange<Int>) throws(SimulatorFailure) -> Int {
                guard let number = Int(value), range.contains(number) else {
                    throw .badRequest("journal query: \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(value.prefix(40))\"")
                }
                return number
            }
            switch name {
            case "method": method = value
            case "path":
                guard value.utf8.count <= 512 else { throw .badRequest("journal query: path must be at most 512 bytes, got \(value.utf8.count)") }
                path = value
            case "since": since = try number(0...Int(Int64.max / 2))
            case "limit": limit = try number(0...RequestJournal.maximumPageEntries)
            case "session": session = value
            case "account": account = value
            case "status": status = try number(0...999)
            case "code": code = try number(Int(Int32.min)...Int(Int32.max))
            default:
                throw .badRequest("journal query: unknown parameter \"\(name.prefix(40))\"; known: \(Self.parameterNames.joined(separator: ", "))")
            }
        }
    }

    func matches(_ record: RequestJournal.Record) -> Bool {
        if let since, record.seq <= since { return false }
        if let method, record.method.caseInsensitiveCompare(method) != .orderedSame { return false }
        if let path, !Self.glob(path, matches: record.path) { return false }
        if let session, record.session != session { return false }
        if let account, record.account != account { return false }
        if let status, record.status != status { return false }
        if let code, record.code != code { return false }
        return true
    }

    /// Whether `text` matches `pattern`, where `*` stands for any run of
    /// characters (the last star is the only backtracking point: at most
    /// pattern × text steps, both bounded: 512 and 2 KiB bytes).
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var i = 0, j = 0, star = -1, mark = 0
        while j < t.count {
            if i < p.count, p[i] != UInt8(ascii: "*"), p[i] == t[j] {
                i += 1
                j += 1
            } else if i < p.count, p[i] == UInt8(ascii: "*") {
                star = i
                mark = j
                i += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count, p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }
}

/// A page of the journal.
public struct JournalPage: Sendable, Hashable, Codable {
    public var version = 2
    public var entries: [JournalEntry]
    /// Entries dropped (the oldest first) since the journal was last
    /// cleared, to stay within its limits.
    public var dropped: Int
    /// Entries kept now, and the most it keeps.
    public var kept: Int
    public var capacity: Int
    public var maximumBytes: Int
    /// The sequence number of the last entry written (for `since`).
    public var lastSeq: Int
    /// More entries matched than `limit` let through.
    public var more: Bool

    enum CodingKeys: String, CodingKey {
        case version, entries, dropped, kept, capacity
        case maximumBytes = "maximum_bytes"
        case lastSeq = "last_seq"
        case more
    }
}

/// The request journal: a ring of the latest entries, bounded by count
/// (the profile's `journal_entries`) and by bytes (`journal_bytes`),
/// written from the HTTP front without a hop to the simulation actor.
/// Writing an entry packs the headers into one string and keeps the body's
/// first 64 KiB; redaction happens when entries are read, and a read holds
/// the lock only to copy the ring's references.
public final class RequestJournal: Sendable {
    struct Record: Sendable {
        var seq = 0
        var elapsed: Double
        var endElapsed: Double
        var wall: Double
        var remote: SocketAddress?
        var method: String
        var path: String
        var query: String?
        /// The headers, packed into one string (`name:value` lines, names
        /// in lower case): one allocation instead of a dozen.
        var headers: String
        var status: Int
        var code: Int?
        var durationMs: Double
        var missingAttribution: [String]
        var fault: String?
        var account: String?
        var session: String?
        var body: JournalBodyCapture?
        var stream: (end: JournalNote.StreamEnd, events: Int)?
        var operationEnds: Double?
        var render: JournalEntry.Render?
        var bytes = 0

        static func pack(_ fields: HTTPFields) -> String {
            var size = 0
            for field in fields { size += field.name.canonicalName.utf8.count + field.value.utf8.count + 2 }
            var text = ""
            text.reserveCapacity(size)
            for field in fields {
                text += field.name.canonicalName
                text += ":"
                text += field.value
                text += "\n"
            }
            return text
        }

        /// The headers as (name, value) pairs (a value never holds a line
        /// break, a name never a colon).
        var headerPairs: [(name: Substring, value: Substring)] {
            headers.split(separator: "\n").compactMap { line in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (line[..<colon], line[line.index(after: colon)...])
            }
        }

        init(
            elapsed: Double, endElapsed: Double? = nil, wall: Double = Date().timeIntervalSince1970, remote: SocketAddress? = nil, method: String,
            path: String,
            query: String? = nil, headers: HTTPFields = [:], packedHeaders: String? = nil, status: Int, code: Int?, durationMs: Double,
            missingAttribution: [String], fault: String?, note: JournalNote? = nil
        ) {
            self.elapsed = elapsed
            self.endElapsed = endElapsed ?? elapsed
            self.wall = wall
            self.remote = remote
            self.method = method
            self.path = path
            self.query = query
            self.headers = packedHeaders ?? Self.pack(headers)
            self.status = status
            self.code = code
            self.durationMs = durationMs
            self.missingAttribution = missingAttribution
            self.fault = fault
            if let note {
                let state = note.state.withLock { $0 }
                account = state.account
                session = state.session
                body = state.body
                if let end = state.streamEnd { stream = (end, state.events) }
                operationEnds = state.operationEnds
                render = state.render
            }
        }
    }

    /// A record in the ring: one allocation each, so that a slot costs a
    /// pointer and the ring's growth is cheap to count.
    final class Stored: Sendable {
        let record: Record
        init(_ record: Record) { self.record = record }
    }

    private struct Ring: Sendable {
        /// Circular: `count` records from `head`.
        var slots: [Stored?] = []
        var head = 0
        var count = 0
        /// The records' bytes (``Record/bytes``); the slots cost a pointer each.
        var bytes = 0
        var nextSeq = 1
        var dropped = 0
        var capacity: Int
        var maximumBytes: Int

        var total: Int { bytes + slots.count * MemoryLayout<Stored?>.stride }

        var ordered: [Stored] {
            (0..<count).map { slots[(head + $0) % slots.count]! }
        }

        mutating func dropOldest() {
            bytes -= slots[head]!.record.bytes
            slots[head] = nil
            head = (head + 1) % slots.count
            count -= 1
            dropped += 1
        }

        mutating func append(_ record: Record) {
            var record = record
            record.seq = nextSeq
            nextSeq += 1
            while count > 0 && (count >= capacity || total + record.bytes > maximumBytes) { dropOldest() }
            if count == slots.count {
                // Full below the capacity: grow (doubling, in order, so the
                // ring starts at 0 again), never past the capacity nor, with
                // the slots counted, past the byte limit.
                let affordable = (maximumBytes - bytes - record.bytes) / MemoryLayout<Stored?>.stride
                let size = max(count + 1, min(capacity, max(16, count * 2), affordable))
                var grown: [Stored?] = ordered
                grown.append(contentsOf: repeatElement(nil, count: size - count))
                slots = grown
                head = 0
            }
            slots[(head + count) % slots.count] = Stored(record)
            count += 1
            bytes += record.bytes
        }

        mutating func resize(capacity: Int, maximumBytes: Int) {
            self.capacity = capacity
            self.maximumBytes = maximumBytes
            while count > 0 && (count > capacity || total > maximumBytes) { dropOldest() }
            slots = ordered.map(Optional.some)
            head = 0
        }
    }

    /// The accepted limits (profile keys `journal_entries`, `journal_bytes`).
    public static let entriesRange = 1...1_000_000
    public static let bytesRange = (64 << 10)...(4 << 30)
    public static let defaultEntries = 10_000
    public static let defaultBytes = 64 << 20

    /// The longest path (and method) an entry keeps, in bytes: longer ones
    /// are cut with a marker.
    public static let maximumPathBytes = 2048
    static let maximumMethodBytes = 32
    /// The longest body an entry keeps.
    public static let maximumBodyBytes = 64 << 10
    /// The most multipart parts an entry lists.
    static let maximumParts = 100
    /// A record's cost beyond its strings: its fields, its allocation's
    /// header and the allocator's own (measured against the process's
    /// memory by `scripts/bench/simulator --only journal`).
    static let recordOverhead = MemoryLayout<Record>.stride + 48

    /// What a string costs on the heap (nothing for the short ones Swift
    /// keeps inline; else its bytes, its header and the allocator's).
    static func heapBytes(_ text: String?) -> Int {
        guard let count = text?.utf8.count, count > 15 else { return 0 }
        return count + 48
    }

    private let ring: Mutex<Ring>
    /// Makes placeholders (see ``JournalRedactor``).
    let redactor: JournalRedactor

    public init(capacity: Int = RequestJournal.defaultEntries, maximumBytes: Int = RequestJournal.defaultBytes, seed: UInt64 = 1) {
        ring = Mutex(Ring(capacity: capacity, maximumBytes: maximumBytes))
        redactor = JournalRedactor(seed: seed)
    }

    /// Entries kept at most (the oldest are dropped first).
    public var capacity: Int { ring.withLock { $0.capacity } }

    /// Changes the limits (dropping the oldest entries beyond them).
    public func setLimits(capacity: Int, maximumBytes: Int) {
        ring.withLock { ring in
            guard ring.capacity != capacity || ring.maximumBytes != maximumBytes else { return }
            ring.resize(capacity: capacity, maximumBytes: maximumBytes)
        }
    }

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
        if let query = record.query { record.query = Self.truncated(query, to: Self.maximumPathBytes) }
        if let fault = record.fault { record.fault = Self.truncated(fault, to: Self.maximumPathBytes) }
        var bytes = Self.recordOverhead
        for text in [record.path, record.method, record.query, record.headers, record.fault, record.account, record.session, record.render?.id, record.render?.status] {
            bytes += Self.heapBytes(text)
        }
        if !record.missingAttribution.isEmpty { bytes += 48 + record.missingAttribution.reduce(0) { $0 + 16 + Self.heapBytes($1) } }
        bytes += record.body?.keptBytes ?? 0
        record.bytes = bytes
        ring.withLock { $0.append(record) }
    }

    /// The most entries one page holds (a query's `limit`, and its default).
    public static let maximumPageEntries = 10_000

    /// The entries a query wants, oldest first, with times on `clock`: at
    /// most `limit` (``maximumPageEntries`` when not given; `more` says
    /// whether others matched). Only the page's entries are copied.
    public func page(_ query: JournalQuery = JournalQuery(), clock: any SimulationClock) -> JournalPage {
        let limit = min(query.limit ?? Self.maximumPageEntries, Self.maximumPageEntries)
        // The lock is held to copy references only: every request takes it
        // to write its entry, so the filter runs outside it.
        let (stored, dropped, kept, capacity, maximumBytes, lastSeq) = ring.withLock { ring in
            (ring.ordered, ring.dropped, ring.count, ring.capacity, ring.maximumBytes, ring.nextSeq - 1)
        }
        var matching: [Stored] = []
        var more = false
        for entry in stored where query.matches(entry.record) {
            guard matching.count < limit else {
                more = true
                break
            }
            matching.append(entry)
        }
        return JournalPage(
            entries: matching.map { entry(for: $0.record, clock: clock) }, dropped: dropped, kept: kept, capacity: capacity,
            maximumBytes: maximumBytes, lastSeq: lastSeq, more: more)
    }

    /// How many entries a query matches (`limit` ignored).
    public func count(_ query: JournalQuery = JournalQuery()) -> (count: Int, dropped: Int) {
        let (stored, dropped) = ring.withLock { ($0.ordered, $0.dropped) }
        return (stored.reduce(0) { $0 + (query.matches($1.record) ? 1 : 0) }, dropped)
    }

    /// The entries, oldest first, with times as ISO 8601 on `clock`.
    public func entries(clock: any SimulationClock) -> [JournalEntry] {
        page(clock: clock).entries
    }

    /// Forgets the entries; sequence numbers go on from where they were,
    /// so a reader paging with `since` never misses what comes next.
    public func clear() {
        ring.withLock { ring in
            let next = ring.nextSeq
            ring = Ring(capacity: ring.capacity, maximumBytes: ring.maximumBytes)
            ring.nextSeq = next
        }
    }

    private func entry(for record: Record, clock: any SimulationClock) -> JournalEntry {
        var headers: [String: String] = [:]
        for (name, value) in record.headerPairs {
            let name = String(name)
            let value = redactor.header(name: name, value: String(value))
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        return JournalEntry(
            seq: record.seq, time: ISO8601.string(from: clock.origin.addingTimeInterval(record.elapsed)),
            simulatedSeconds: (record.elapsed * 1000).rounded() / 1000, simulatedEndSeconds: (record.endElapsed * 1000).rounded() / 1000,
            wallTime: ISO8601.string(from: Date(timeIntervalSince1970: record.wall)), remote: record.remote.map(Self.describe),
            method: record.method, path: redactor.text(record.path), query: record.query.map(redactor.query), headers: headers,
            body: record.body.map(redactor.body), status: record.status, code: record.code, durationMs: record.durationMs,
            stream: record.stream.map { JournalEntry.Stream(ended: $0.end.rawValue, events: $0.events) },
            operationEndsSeconds: record.operationEnds.map { ($0 * 1000).rounded() / 1000 }, render: record.render,
            account: record.account, session: record.session, missingAttribution: record.missingAttribution, fault: record.fault)
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress else { return address.description }
        let port = address.port.map { ":\($0)" } ?? ""
        return (ip.contains(":") ? "[\(ip)]" : ip) + port
    }
}

/// Redacts journal entries as they are read. A placeholder is a keyed hash
/// of the secret (HMAC-SHA-256, key from the simulator's seed), so the same
/// secret always gets the same placeholder, no table of secrets is kept,
/// and a token keeps its documented prefix (`nmv_usr_REDACTED-1f2e3d4c5b6a`).
struct JournalRedactor: Sendable {
    private let key: [UInt8]

    init(seed: UInt64) {
        key = Array(SHA256.hash(data: Data("nemosim journal placeholders \(seed)".utf8)))
    }

    func placeholder(for secret: String) -> String {
        let prefix = [userTokenPrefix, claimTokenPrefix, "nmv_"].first { secret.hasPrefix($0) } ?? ""
        let mac = HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: SymmetricKey(data: key))
        return prefix + "REDACTED-" + SHA256Hex.hex(mac.prefix(6))
    }

    func header(name: String, value: String) -> String {
        let lower = name.lowercased()
        guard SecretShapes.headers.contains(lower) else { return text(value) }
        if lower == "authorization" || lower == "proxy-authorization", let (scheme, secret) = SecretShapes.credential(inAuthorization: value) {
            return "\(scheme) \(placeholder(for: secret))"
        }
        return placeholder(for: value)
    }

    /// Any text: token-shaped words replaced (placeholders left as they are).
    func text(_ value: String) -> String {
        SecretShapes.replacingTokenWords(in: value) { $0.contains("REDACTED-") ? $0 : placeholder(for: $0) }
    }

    /// A query string with credential-shaped parameters' values replaced.
    func query(_ query: String) -> String {
        let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let equals = pair.firstIndex(of: "=") else { return String(pair) }
            let name = pair[..<equals]
            let decoded = (name.removingPercentEncoding ?? String(name)).lowercased()
            guard SecretShapes.queryParameters.contains(decoded) else { return String(pair) }
            let value = String(pair[pair.index(after: equals)...])
            return "\(name)=\(placeholder(for: value.removingPercentEncoding ?? value))"
        }
        return text(pairs.joined(separator: "&"))
    }

    /// A secret JSON key in any spelling: `access_token`, `accessToken`, `Access-Token`.
    static func isSecretKey(_ key: String) -> Bool {
        let plain = key.lowercased().filter { $0 != "_" && $0 != "-" }
        return normalisedSecretKeys.contains(plain)
    }

    static let normalisedSecretKeys = Set(SecretShapes.jsonKeys.map { $0.filter { $0 != "_" && $0 != "-" } })

    func body(_ capture: JournalBodyCapture) -> JournalEntry.Body {
        switch capture {
        case .bytes(let bytes, let size):
            let raw = String(decoding: bytes, as: UTF8.self)
            let truncated = size > bytes.count
            if !truncated, let json = try? JSONValue.parse(raw) {
                let redacted = redact(json)
                return .init(size: size, truncated: false, text: redacted.jsonString(), json: redacted, parts: nil)
            }
            // A form body (`a=b&c=d`) has its credential fields redacted as a query string would.
            let form = !raw.contains(" ") && raw.contains("=") && !raw.contains("\n")
            return .init(size: size, truncated: truncated, text: form ? query(raw) : text(raw), json: nil, parts: nil)
        case .parts(let parts, let size, let count):
            return .init(size: size, truncated: count > parts.count, text: nil, json: nil, parts: parts)
        }
    }

    private func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, member) in object {
                if case .string(let secret) = member, Self.isSecretKey(key) {
                    out[key] = .string(placeholder(for: secret))
                } else {
                    out[key] = redact(member)
                }
            }
            return .object(out)
        case .array(let array):
            return .array(array.map(redact))
        case .string(let string):
            if let question = string.firstIndex(of: "?"), string.hasPrefix("http://") || string.hasPrefix("https://") {
                return .string(text(String(string[..<question])) + "?" + query(String(string[string.index(after: question)...])))
            }
            return .string(text(string))
        default:
            return value
        }
    }
}

import Foundation
import NemoClient
import NemoCore
import ServerSentEvents
import Synchronization

/// How a replay paces event streams.
public enum ReplayTiming: Sendable, Hashable {
    /// At the recorded offsets divided by `timeScale` (1 = as recorded).
    case recorded(timeScale: Double)
    /// Every event at once.
    case instant
}

/// What of a request must equal the recorded one's for it to answer:
/// `method,path,body` by default (`nemosim serve --replay --match`).
/// `query` compares the query string (items sorted); `header:NAME` a
/// header's value. Render ids in paths and bodies are normalised whatever
/// is compared, and a multipart body never is (uploads match without it).
public struct ReplayMatch: Sendable, Hashable, CustomStringConvertible {
    public var method = true
    public var path = true
    public var query = false
    public var body = true
    /// Lower-case header names.
    public var headers: [String] = []

    public static let `default` = ReplayMatch()

    public init() {}

    /// `method,path,query,body,header:NAME` (any of them, in any order).
    public init(parsing text: String) throws {
        method = false
        path = false
        body = false
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty, items.count <= 32 else {
            throw RecordingError("--match lists what requests are matched on: method, path, query, body, header:NAME (comma-separated), got \"\(text)\"")
        }
        for item in items {
            switch item.lowercased() {
            case "method": method = true
            case "path": path = true
            case "query": query = true
            case "body": body = true
            case let header where header.hasPrefix("header:") && header.count > 7 && header.count <= 200:
                let name = String(header.dropFirst(7))
                guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) else {
                    throw RecordingError("--match: \"\(item)\" is not a header name (letters, digits, - and _)")
                }
                if !headers.contains(name) { headers.append(name) }
            default:
                throw RecordingError("--match: unknown item \"\(item)\": use method, path, query, body or header:NAME")
            }
        }
    }

    public var description: String {
        ([method ? "method" : nil, path ? "path" : nil, query ? "query" : nil, body ? "body" : nil].compactMap { $0 } + headers.map { "header:" + $0 })
            .joined(separator: ",")
    }

    /// The names of a key's parts, in key order.
    var partNames: [String] { ["method", "path", "query", "body"] + headers.map { "header \($0)" } }
}

/// Finds the recorded exchange for a request: method, path and body with
/// ids normalised. Among exchanges with the same key, one sent with the same
/// `Authorization` header is preferred (a replayed token is the recorded
/// placeholder, so each recorded session keeps its own answers even when
/// several sessions made the same calls). Each recorded exchange answers
/// once, in recorded order; when they run out, the last one answers again
/// (polls).
public final class ReplayMatcher: Sendable {
    public let recording: Recording
    /// What requests are matched on.
    public let match: ReplayMatch
    /// Each entry's match key, computed once.
    private let keys: [String]
    /// Entries by key, in recorded order.
    private let byKey: [String: [Int]]
    /// Entries by key and Authorization header, in recorded order.
    private let byKeyAndAuthorization: [String: [Int]]
    /// Entries already used, under a lock. (An NSLock, not Mutex: with Mutex
    /// here, a release build of client-bench crashed on a bad error value
    /// after `send` returned normally, which points at the optimizer.)
    private let lock = NSLock()
    nonisolated(unsafe) private var used: Set<Int> = []
    /// Per candidate list: how far every entry is known to be used.
    nonisolated(unsafe) private var firstUnused: [String: Int] = [:]

    /// What recorded origins become in match keys (``init(recording:origins:)``).
    public static let originPlaceholder = "{recorded-origin}"

    /// - Parameter origins: addresses the recording's bodies name (its
    ///   hosts, a proxy's) that a replayed request names as the replay
    ///   server's own: in keys, each becomes ``originPlaceholder``, and the
    ///   caller replaces its own URL with it in a request's key.
    public init(recording: Recording, origins: [String] = [], match: ReplayMatch = .default) {
        self.recording = recording
        self.match = match
        let longestFirst = origins.sorted { $0.count > $1.count }
        keys = recording.entries.map { entry in
            longestFirst.reduce(Self.key(of: entry, match: match)) { $0.replacingOccurrences(of: $1, with: Self.originPlaceholder) }
        }
        var byKey: [String: [Int]] = [:]
        var byKeyAndAuthorization: [String: [Int]] = [:]
        for (index, key) in keys.enumerated() {
            byKey[key, default: []].append(index)
            if let authorization = recording.entries[index].request.headers.first(where: { $0.name.lowercased() == "authorization" })?.value {
                byKeyAndAuthorization[key + "\u{0}" + authorization, default: []].append(index)
            }
        }
        self.byKey = byKey
        self.byKeyAndAuthorization = byKeyAndAuthorization
    }

    /// The separator of a key's parts (``ReplayMatch/partNames``).
    static let separator: Character = "\u{1F}"

    /// The match key of a request: the parts `match` compares, in a fixed
    /// order, the others empty.
    static func key(
        method: String, url: String, body: String?, contentType: String?, header: (String) -> String?, match: ReplayMatch
    ) -> String {
        let multipart = contentType?.lowercased().hasPrefix("multipart/") == true
        var parts = [
            match.method ? method.uppercased() : "", match.path ? normalizedPath(url) : "", match.query ? normalizedQuery(url) : "",
            match.body && !multipart ? normalizedBody(body) : "",
        ]
        for name in match.headers { parts.append(header(name) ?? "") }
        return parts.joined(separator: String(separator))
    }

    /// A request's key under this matcher's rules.
    public func key(method: String, url: String, body: String?, contentType: String?, header: (String) -> String?) -> String {
        Self.key(method: method, url: url, body: body, contentType: contentType, header: header, match: match)
    }

    /// The query string's items, sorted (`a=1&b=2`).
    static func normalizedQuery(_ url: String) -> String {
        let items = URLComponents(string: url)?.percentEncodedQueryItems ?? []
        return items.map { $0.name + ($0.value.map { "=" + $0 } ?? "") }.sorted().joined(separator: "&")
    }

    public static func normalizedPath(_ url: String) -> String {
        let path = URLComponents(string: url)?.path ?? url
        return path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("render_") ? "render_*" : String(segment)
        }.joined(separator: "/")
    }

    static func normalizedBody(_ body: String?) -> String {
        guard let body, !body.isEmpty else { return "" }
        guard let json = try? JSONValue.parse(body) else { return body }
        return normalize(json).jsonString()
    }

    private static func normalize(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, member) in object {
                if case .string(let text) = member, key == "id", text.hasPrefix("render_") {
                    out[key] = "render_*"
                } else {
                    out[key] = normalize(member)
                }
            }
            return .object(out)
        case .array(let array): return .array(array.map(normalize))
        default: return value
        }
    }

    /// A recorded request's key. Whether its body is a multipart one is
    /// its MIME type's to say: mitmproxy writes `"params": []` beside a
    /// JSON body, and browsers list a form's fields in `params` beside its
    /// text.
    static func key(of entry: HAREntry, match: ReplayMatch) -> String {
        let post = entry.request.postData
        return key(
            method: entry.request.method, url: entry.request.url, body: post?.text, contentType: post?.mimeType,
            header: { name in entry.request.headers.first { $0.name.lowercased() == name }?.value }, match: match)
    }

    func key(of request: ClientRequest) -> String {
        var body: String?
        var type: String?
        if case .data(let data, let contentType) = request.body { (body, type) = (String(decoding: data, as: UTF8.self), contentType) }
        return key(method: request.method, url: request.url, body: body, contentType: type, header: { request.header($0) })
    }

    /// The recorded entry for `key` (preferring one sent with the same
    /// `authorization`), or an error naming the closest one.
    public func match(key: String, authorization: String? = nil, description: String) throws -> HAREntry {
        // The same token's answers when it has any for this call; another
        // session's only when this token never made it (a new token).
        let preferred = authorization.map { key + "\u{0}" + $0 }
        let (name, candidates): (String, [Int])
        if let preferred, let own = byKeyAndAuthorization[preferred] {
            (name, candidates) = (preferred, own)
        } else if let any = byKey[key] {
            (name, candidates) = (key, any)
        } else {
            throw TransportError(kind: .other, message: "replay: no recorded exchange matches \(description). \(closest(to: key))")
        }
        lock.lock()
        defer { lock.unlock() }
        var position = firstUnused[name, default: 0]
        while position < candidates.count && used.contains(candidates[position]) { position += 1 }
        firstUnused[name] = position
        guard position < candidates.count else { return recording.entries[candidates[candidates.count - 1]] }
        used.insert(candidates[position])
        return recording.entries[candidates[position]]
    }

    /// Forgets which exchanges answered: the next requests get the
    /// recorded answers from the start again (`POST /_nemosim/reset` on the
    /// replay server).
    public func rewind() {
        lock.lock()
        defer { lock.unlock() }
        used = []
        firstUnused = [:]
    }

    /// The recorded exchanges that have not answered yet, in recorded order
    /// (VCR's "unused interactions": a call the client stopped making).
    public var unused: [(index: Int, entry: HAREntry)] {
        lock.lock()
        let taken = used
        lock.unlock()
        return recording.entries.indices.filter { !taken.contains($0) }.map { ($0, recording.entries[$0]) }
    }

    /// The closest recorded request and how it differs.
    public func closest(to key: String) -> String {
        guard !recording.entries.isEmpty else { return "The recording has no exchanges." }
        let names = match.partNames
        func parts(_ key: String) -> [String] {
            let split = key.split(separator: Self.separator, omittingEmptySubsequences: false).map(String.init)
            return names.indices.map { $0 < split.count ? split[$0] : "" }
        }
        let sent = parts(key)
        var best: (score: Int, entry: HAREntry, recorded: [String])?
        for (entry, otherKey) in zip(recording.entries, keys) {
            let recorded = parts(otherKey)
            let score = names.indices.reduce(0) { sum, index in sum + (recorded[index] == sent[index] ? (names[index] == "path" ? 2 : 1) : 0) }
            if best == nil || score > best!.score { best = (score, entry, recorded) }
        }
        guard let best else { return "" }
        // Only the closest is described (a JSON comparison per recorded body would be slow on large recordings).
        var differences: [String] = []
        for (index, name) in names.enumerated() where best.recorded[index] != sent[index] {
            if name == "body" {
                differences.append("body: " + Self.bodyDifference(recorded: best.recorded[index], sent: sent[index]))
            } else if name.hasPrefix("header "), SecretShapes.headers.contains(String(name.dropFirst(7))) {
                differences.append("\(name) (values not shown: a secret)")
            } else {
                func shown(_ text: String) -> String { text.isEmpty ? "(none)" : text.count > 120 ? String(text.prefix(120)) + "…" : text }
                differences.append("\(name): recorded \(shown(best.recorded[index])), sent \(shown(sent[index]))")
            }
        }
        // What the client sent is not redacted as the recording is: its tokens are masked here.
        let text = "Closest recorded request: \(best.entry.request.method) \(Self.normalizedPath(best.entry.request.url)) (differs in \(differences.joined(separator: "; ")))."
        return SecretShapes.replacingTokenWords(in: text) { word in String(word.prefix(8)) + "…" }
    }

    /// Where two request bodies part: for JSON, the first field that
    /// differs with both values (or that one side lacks); otherwise both
    /// texts from where they part.
    public static func bodyDifference(recorded: String, sent: String) -> String {
        func shown(_ text: String) -> String { text.isEmpty ? "(empty)" : text.count > 80 ? String(text.prefix(80)) + "…" : text }
        if let a = try? JSONValue.parse(recorded), let b = try? JSONValue.parse(sent), let (path, left, right) = firstDifference(a, b, at: "") {
            let name = path.isEmpty ? "the whole body" : "field \(path)"
            // A secret field (a token in a claim) is named, not shown.
            if let last = path.split(separator: ".").last.map({ String($0.prefix { $0 != "[" }).lowercased() }), SecretShapes.jsonKeys.contains(last) {
                return "\(name) (values not shown: a secret)"
            }
            return "\(name): recorded \(left.map { shown($0.jsonString()) } ?? "(absent)"), sent \(right.map { shown($0.jsonString()) } ?? "(absent)")"
        }
        let common = zip(recorded, sent).prefix { $0 == $1 }.count
        let from = max(0, common - 20)
        return "recorded \(shown(String(recorded.dropFirst(from)))), sent \(shown(String(sent.dropFirst(from))))" + (common > 0 ? " (from character \(from + 1))" : "")
    }

    /// The first place two JSON values differ: a dotted path (`[i]` for
    /// array items) and the value on each side (nil where absent).
    static func firstDifference(_ a: JSONValue, _ b: JSONValue, at path: String) -> (String, JSONValue?, JSONValue?)? {
        switch (a, b) {
        case (.object(let left), .object(let right)):
            for key in Set(left.keys).union(right.keys).sorted() {
                let child = path.isEmpty ? key : path + "." + key
                switch (left[key], right[key]) {
                case (let l?, let r?): if let found = firstDifference(l, r, at: child) { return found }
                case (let l, let r): return (child, l, r)
                }
            }
            return nil
        case (.array(let left), .array(let right)):
            for index in 0..<max(left.count, right.count) {
                let child = path + "[\(index)]"
                guard index < left.count, index < right.count else { return (child, index < left.count ? left[index] : nil, index < right.count ? right[index] : nil) }
                if let found = firstDifference(left[index], right[index], at: child) { return found }
            }
            return nil
        default:
            return a == b ? nil : (path, a, b)
        }
    }
}

/// A transport that answers from a recording, with no network at all.
public final class ReplayTransport: HTTPTransport, Sendable {
    public let matcher: ReplayMatcher
    public let timing: ReplayTiming

    /// What recorded offsets are paced by.
    public let clock: any RecordingClock

    public init(
        recording: Recording, timing: ReplayTiming = .recorded(timeScale: 1), clock: any RecordingClock = .continuous, match: ReplayMatch = .default
    ) {
        self.matcher = ReplayMatcher(recording: recording, match: match)
        self.timing = timing
        self.clock = clock
    }

    func entry(for request: ClientRequest) throws -> HAREntry {
        try matcher.match(
            key: matcher.key(of: request), authorization: request.header("Authorization"),
            description: "\(request.method) \(ReplayMatcher.normalizedPath(request.url))")
    }

    public func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        let entry = try entry(for: request)
        try Self.failIfNoResponse(entry)
        return ClientResponse(status: entry.response.status, headers: Self.headers(entry), body: Self.body(entry))
    }

    public func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        let entry = try entry(for: request)
        try Self.failIfNoResponse(entry)
        let body = Self.body(entry)
        // As libcurl's transport: a success goes to the file, an error answer stays in the response.
        guard (200..<300).contains(entry.response.status) else {
            return ClientResponse(status: entry.response.status, headers: Self.headers(entry), body: body)
        }
        try body.write(to: file)
        return ClientResponse(status: entry.response.status, headers: Self.headers(entry), body: Data())
    }

    public func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        let timing = self.timing
        let clock = self.clock
        let matched: Result<HAREntry, any Error> = Result { try entry(for: request) }
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let entry = try matched.get()
                    try Self.failIfNoResponse(entry)
                    continuation.yield(.head(status: entry.response.status, headers: Self.headers(entry)))
                    guard let items = entry.eventStream else {
                        try await Self.waitForWholeStream(entry, timing: timing, clock: clock)
                        continuation.yield(.body(Self.body(entry)))
                        continuation.finish()
                        return
                    }
                    if let ending = try await Self.play(entry, items, timing: timing, clock: clock, emit: { continuation.yield(.body(Data($0.utf8))) }) {
                        continuation.finish(throwing: TransportError(kind: .cutOff, message: "replay: the recorded stream was \(ending)"))
                    } else {
                        continuation.finish()
                    }
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { termination in
                if case .cancelled = termination { task.cancel() }
            }
        }
    }

    /// Plays a recorded event stream through `emit`: each item at its
    /// recorded offset (or at once), then, for a stream the client left,
    /// holds it open (``holdOpenUntil(_:timing:start:)``). Returns the
    /// recorded ending of a stream that was cut off (`dropped...`), else nil.
    static func play(
        _ entry: HAREntry, _ items: [RecordedStreamItem], timing: ReplayTiming, clock: any RecordingClock, emit: (String) async throws -> Void
    ) async throws -> String? {
        let start = clock.nowMs
        for item in items {
            if case .recorded(let scale) = timing {
                try await clock.sleep(untilMs: start + item.offsetMs / max(scale, 1e-9))
            }
            try await emit(encode(item))
        }
        if let ending = entry.ending, case .dropped = ending { return ending.description }
        if let hold = holdOpenUntil(entry, timing: timing) {
            try await clock.sleep(untilMs: start + hold)
        }
        return nil
    }

    /// An event stream another recorder wrote whole (no `_eventStream`:
    /// mitmproxy, a browser) is sent as recorded, byte for byte, at the end
    /// of the recorded exchange (divided by the time scale): the moment a
    /// client behind a proxy that buffers got its events. Other answers at once.
    static func waitForWholeStream(_ entry: HAREntry, timing: ReplayTiming, clock: any RecordingClock) async throws {
        guard entry.eventStream == nil, entry.isEventStream, case .recorded(let scale) = timing, let at = entry.replayedEventStream?.first?.offsetMs else { return }
        try await clock.sleep(untilMs: clock.nowMs + at / max(scale, 1e-9))
    }

    /// A recorded stream that the client itself left (its ending is
    /// `cancelled`, e.g. after 10 minutes of heartbeats only) stays open at
    /// replay until the moment the client left, plus a second, so that the
    /// client's own timeout fires again rather than a close it never saw.
    /// Instant replays close at once. Milliseconds after the stream began.
    static func holdOpenUntil(_ entry: HAREntry, timing: ReplayTiming) -> Double? {
        guard entry.ending == .cancelled, case .recorded(let scale) = timing else { return nil }
        return entry.time / max(scale, 1e-9) + 1000
    }

    /// The event-stream text of a recorded item.
    public static func encode(_ item: RecordedStreamItem) -> String {
        switch item.kind {
        case .comment: return ServerSentEventEncoder.comment(item.data ?? "")
        case .retry: return ServerSentEventEncoder.retry(milliseconds: Int(item.data ?? "") ?? 0)
        case .event: return ServerSentEventEncoder.encode(data: item.data ?? "", type: item.event, id: item.id)
        }
    }

    static func headers(_ entry: HAREntry) -> [(name: String, value: String)] {
        entry.response.headers.map { ($0.name, $0.value) }
    }

    static func body(_ entry: HAREntry) -> Data { entry.responseBody }

    static func failIfNoResponse(_ entry: HAREntry) throws {
        if entry.response.status == 0 {
            throw TransportError(kind: .other, message: "replay: the recorded exchange had no response (\(entry.ending?.description ?? "failed"))")
        }
    }
}

extension HAREntry {
    /// Whether the response is an event stream (by its MIME type or header).
    public var isEventStream: Bool {
        if response.content.mimeType.lowercased().hasPrefix("text/event-stream") { return true }
        return response.headers.contains { $0.name.lowercased() == "content-type" && $0.value.lowercased().hasPrefix("text/event-stream") }
    }

    /// The events of an event stream: as recorded with their offsets
    /// (`_eventStream`, nemosim's recordings), or, for one another recorder
    /// wrote whole (mitmproxy, a browser: no offset per event), its events
    /// read from the body, all at the end of the exchange's recorded time:
    /// the moment a client behind a proxy that buffers got them (replay
    /// sends such a body as recorded then). Nil for other answers.
    public var replayedEventStream: [RecordedStreamItem]? {
        if let eventStream { return eventStream }
        guard isEventStream, response.content.text != nil else { return nil }
        let bytes = responseBody
        var parser = ServerSentEventParser(maximumEventBytes: 16 << 20)
        let offset = time.isFinite ? max(0, time) : 0
        return parser.feed(bytes).map { RecordingTransport.item($0, offsetMs: offset) }
    }
}

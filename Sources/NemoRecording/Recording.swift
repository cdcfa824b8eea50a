import Foundation
import NemoCore
import NemoReports
import Synchronization

/// Errors reading or writing recordings.
public struct RecordingError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Writes a recording crash-safely: each completed exchange is appended to
/// a JSON-lines journal (`FILE.partial.jsonl`) and flushed to disk before
/// the next begins; ``close()`` turns the journal into the HAR file. After a
/// `kill -9`, ``Recording/load(_:)`` reads every exchange the journal holds.
/// Every entry passes through the ``Redactor`` first: no secret is written.
public final class RecordingWriter: Sendable {
    public let url: URL
    public let journalURL: URL
    public let redactor: Redactor
    private let state: Mutex<(handle: FileHandle?, entries: [HAREntry], metadata: RecordingMetadata, begun: Int)>

    public convenience init(url: URL, metadata: RecordingMetadata, redactor: Redactor = Redactor()) throws {
        try self.init(url: url, metadata: metadata, entries: [], redactor: redactor)
    }

    /// A writer that continues `recording` (read from `url`): its journal
    /// starts with the recorded exchanges, as they are (they were redacted
    /// when recorded), so that a crash loses neither them nor the new ones;
    /// closing rewrites `url` with all of them.
    /// Its redactor numbers new secrets after the placeholders the
    /// recording holds, so that a new token never takes the placeholder of
    /// a recorded one.
    public convenience init(appendingTo url: URL, recording: Recording, redactor: Redactor = Redactor()) throws {
        let metadata = recording.metadata ?? RecordingMetadata(toolVersion: "unknown", target: "", createdAt: Date().formatted(.iso8601))
        redactor.continueNumbering(after: recording.entries)
        try self.init(url: url, metadata: metadata, entries: recording.entries, redactor: redactor)
    }

    /// Closes and removes the journal, leaving any HAR as it was (a
    /// recording that never started: its server could not listen).
    public func discard() {
        state.withLock { state in
            try? state.handle?.close()
            state.handle = nil
        }
        try? FileManager.default.removeItem(at: journalURL)
    }

    private init(url: URL, metadata: RecordingMetadata, entries: [HAREntry], redactor: Redactor) throws {
        self.url = url
        self.journalURL = Self.journalURL(for: url)
        self.redactor = redactor
        let directory = url.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw RecordingError("cannot record to \(url.path): the folder \(directory.path) does not exist")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var start = try encoder.encode(["_nemosim": metadata]) + Data("\n".utf8)
        for entry in entries {
            start += try encoder.encode(entry) + Data("\n".utf8)
        }
        // Written whole, then moved into place: a journal read in place of
        // its HAR (the only copy of what it holds) is never truncated first.
        do {
            try start.write(to: journalURL, options: .atomic)
        } catch {
            throw RecordingError("cannot write \(journalURL.path): check permissions")
        }
        guard let handle = try? FileHandle(forWritingTo: journalURL) else {
            throw RecordingError("cannot write \(journalURL.path): check permissions")
        }
        _ = try handle.seekToEnd()
        state = Mutex((handle, entries, metadata, 0))
    }

    /// Notes in the journal that an exchange has started (method and path,
    /// nothing secret), so that a reader can say which one a crash cut off.
    /// Returns the exchange's number.
    @discardableResult
    public func begin(method: String, url: String) -> Int {
        let path = URLComponents(string: url)?.path ?? ""
        return state.withLock { state in
            state.begun += 1
            let line: JSONValue = ["_begin": ["n": .number(Double(state.begun)), "method": .string(method), "path": .string(path)]]
            try? state.handle?.write(contentsOf: Data((line.jsonString() + "\n").utf8))
            try? state.handle?.synchronize()
            return state.begun
        }
    }

    /// The journal next to a recording.
    public static func journalURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".partial.jsonl")
    }

    /// Appends one completed exchange (redacted) and flushes it to disk.
    public func append(_ entry: HAREntry) throws {
        let redacted = Self.redact(entry, with: redactor)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = try encoder.encode(redacted) + Data("\n".utf8)
        try state.withLock { state in
            guard let handle = state.handle else { throw RecordingError("the recording \(url.path) is already closed") }
            try handle.write(contentsOf: line)
            try handle.synchronize()
            state.entries.append(redacted)
        }
    }

    /// Stores a scenario run's results in the recording's metadata, so a
    /// report can be made from the recording later.
    /// Their strings pass through the redactor like everything else in the
    /// file; returns them as stored, for reports that must match the file.
    @discardableResult
    public func setScenarioResults(_ results: RunResult) -> RunResult {
        let redacted = results.mapStrings(redactor.text)
        state.withLock { $0.metadata.scenario = redacted }
        return redacted
    }

    /// How many exchanges the recording holds so far.
    public var entryCount: Int { state.withLock { $0.entries.count } }

    /// Notes the URL clients used (a proxy's), for replay servers to rewrite.
    public func setRecordedVia(_ url: String) {
        state.withLock { $0.metadata.recordedVia = url }
    }

    /// Writes the HAR file and removes the journal.
    public func close() throws {
        let (entries, metadata) = try state.withLock { state -> ([HAREntry], RecordingMetadata) in
            guard let handle = state.handle else { throw RecordingError("the recording \(url.path) is already closed") }
            try handle.close()
            state.handle = nil
            return (state.entries, state.metadata)
        }
        let har = HARFile(log: HARLog(creator: HARCreator(version: metadata.toolVersion), entries: entries, metadata: metadata))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(har).write(to: url, options: .atomic)
        try? FileManager.default.removeItem(at: journalURL)
    }

    /// An entry with every secret replaced.
    public static func redact(_ entry: HAREntry, with redactor: Redactor) -> HAREntry {
        var entry = entry
        // A textual body another tool stored as base64 (a browser) is read
        // as text, so that its secrets are found and replaced too.
        if entry.response.content.encoding == "base64", let text = entry.response.content.text, isTextual(entry.response.content.mimeType),
            let data = Data(base64Encoded: text), let decoded = String(data: data, encoding: .utf8)
        {
            entry.response.content.text = decoded
            entry.response.content.encoding = nil
        }
        // The URL's signed parameters, then the headers and bodies that
        // carry secrets, so that the secrets are known when the rest of the
        // text is scanned; a header whose value is a URL (`:path`,
        // `referer`, `location`) is read as one.
        entry.request.url = redactor.url(entry.request.url)
        func header(_ field: HARHeader) -> HARHeader {
            let lower = field.name.lowercased()
            if [":path", "referer", "location", "content-location", "origin"].contains(lower) || field.value.hasPrefix("http://") || field.value.hasPrefix("https://") {
                let value = lower == ":path" ? redactor.url("http://x" + field.value).dropFirst("http://x".count) : Substring(redactor.url(field.value))
                return HARHeader(name: field.name, value: redactor.header(name: field.name, value: String(value)))
            }
            return HARHeader(name: field.name, value: redactor.header(name: field.name, value: field.value))
        }
        entry.request.headers = entry.request.headers.map(header)
        entry.response.headers = entry.response.headers.map(header)
        if let text = entry.response.content.text, entry.response.content.encoding == nil {
            entry.response.content.text = redactor.body(text, mimeType: entry.response.content.mimeType)
        }
        if var post = entry.request.postData {
            post.text = redactor.body(post.text, mimeType: post.mimeType)
            entry.request.postData = post
        }
        entry.request.queryString = entry.request.queryString.map {
            HARHeader(name: $0.name, value: Redactor.signedQueryParameters.contains($0.name.lowercased()) ? redactor.placeholder(for: $0.value, kind: "signature") : $0.value)
        }
        entry.eventStream = entry.eventStream?.map { item in
            var item = item
            item.data = item.data.map(redactor.text)
            return item
        }
        if let text = entry.response.content.text, entry.response.content.encoding == nil {
            entry.response.content.text = redactor.text(text)
        }
        return entry
    }
}

/// Whether a MIME type names text (JSON, an event stream, `text/*`).
func isTextual(_ mimeType: String) -> Bool {
    let lower = mimeType.lowercased()
    return lower.hasPrefix("text/") || lower.contains("json") || lower.contains("xml") || lower.contains("javascript")
}

/// A recording read back: its entries, its metadata, and, for a recording
/// cut off by a crash, which exchange was lost.
public struct Recording: Sendable {
    public var metadata: RecordingMetadata?
    public var entries: [HAREntry]
    /// Set when the recording was read from a journal whose last line was
    /// incomplete: says which exchange was cut off.
    public var cutOff: String?
    /// Whether this came from a journal (the recording was never closed).
    public var fromJournal: Bool

    public init(metadata: RecordingMetadata?, entries: [HAREntry], cutOff: String? = nil, fromJournal: Bool = false) {
        self.metadata = metadata
        self.entries = entries
        self.cutOff = cutOff
        self.fromJournal = fromJournal
    }

    /// Reads `FILE` (HAR), or its journal when the HAR was never written
    /// (the recorder was killed), or a journal given directly.
    public static func load(_ url: URL) throws -> Recording {
        let journal = url.path.hasSuffix(".partial.jsonl") ? url : RecordingWriter.journalURL(for: url)
        // A journal newer than the HAR beside it: a later recording into the
        // same file (or one appending to it) was never closed. The journal
        // holds everything it recorded; the HAR is the one before.
        var newerJournal = false
        if !url.path.hasSuffix(".partial.jsonl"), let written = modificationDate(url), let journalWritten = modificationDate(journal) {
            newerJournal = journalWritten >= written
        }
        if !newerJournal, !url.path.hasSuffix(".partial.jsonl"), FileManager.default.fileExists(atPath: url.path) {
            let data = try Data(contentsOf: url)
            do {
                let har = try JSONDecoder().decode(HARFile.self, from: data)
                try checkNumbers(har.log.entries, metadata: har.log.nemosim, in: url)
                return Recording(metadata: har.log.nemosim, entries: har.log.entries, cutOff: nil, fromJournal: false)
            } catch let error as RecordingError {
                throw error
            } catch {
                if !FileManager.default.fileExists(atPath: journal.path) {
                    throw RecordingError("\(url.path) is not a HAR 1.2 file: \(error)")
                }
            }
        }
        guard FileManager.default.fileExists(atPath: journal.path) else {
            throw RecordingError("no recording at \(url.path) (and no journal \(journal.lastPathComponent) next to it)")
        }
        let text = String(decoding: try Data(contentsOf: journal), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let endsCleanly = text.hasSuffix("\n") || text.isEmpty
        if lines.last == "" { lines.removeLast() }
        var metadata: RecordingMetadata?
        var entries: [HAREntry] = []
        var cutOff: String?
        var open: [(method: String, path: String)] = []
        for (index, line) in lines.enumerated() {
            let data = Data(line.utf8)
            if index == 0, let header = try? JSONDecoder().decode([String: RecordingMetadata].self, from: data) {
                metadata = header["_nemosim"]
                continue
            }
            if let begin = (try? JSONValue.parse(data))?["_begin"] {
                open.append((begin["method"]?.stringValue ?? "?", begin["path"]?.stringValue ?? "?"))
                continue
            }
            if let entry = try? JSONDecoder().decode(HAREntry.self, from: data) {
                entries.append(entry)
                let path = URLComponents(string: entry.request.url)?.path ?? ""
                if let started = open.firstIndex(where: { $0.method == entry.request.method && $0.path == path }) {
                    open.remove(at: started)
                }
            } else {
                let isLast = index == lines.count - 1
                cutOff = isLast && !endsCleanly
                    ? "exchange \(entries.count + 1) (journal line \(index + 1)) was cut off while being written; the \(entries.count) before it are complete"
                    : "journal line \(index + 1) is not a complete exchange; skipped"
            }
        }
        if cutOff == nil, let lost = open.first {
            cutOff = "exchange \(entries.count + 1) (\(lost.method) \(lost.path)) was cut off: it started but never completed; the \(entries.count) before it are complete"
        }
        try checkNumbers(entries, metadata: metadata, in: journal)
        if newerJournal {
            let said = "read from \(journal.lastPathComponent), newer than \(url.lastPathComponent): the last recording into it was not closed"
            cutOff = cutOff.map { "\(said); \($0)" } ?? said
        }
        return Recording(metadata: metadata, entries: entries, cutOff: cutOff, fromJournal: true)
    }

    private static func modificationDate(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    /// The longest time a recording may give (an exchange's duration, an
    /// event's offset), in milliseconds: about 31 years.
    static let maximumMilliseconds = CheckedNumber.maximumSleepSeconds * 1000

    /// Refuses a recording whose times would pace a replay beyond any
    /// sensible wait (or trap turning into durations): NaN, infinities,
    /// `1e300`, negative offsets. HAR's `-1` ("not known") is allowed in
    /// timings.
    static func checkNumbers(_ entries: [HAREntry], metadata: RecordingMetadata?, in url: URL) throws {
        let range = -1...maximumMilliseconds
        func check(_ value: Double, _ what: String, entry: Int, in range: ClosedRange<Double> = range) throws {
            guard CheckedNumber.seconds(value, in: range) == nil else { return }
            throw RecordingError(
                "\(url.path): entry \(entry + 1): \(what) is \(value), not a number of milliseconds from \(Int(range.lowerBound)) to \(Int(range.upperBound)): fix or remove that entry")
        }
        for (index, entry) in entries.enumerated() {
            try check(entry.time, "time", entry: index)
            try check(entry.timings.send, "timings.send", entry: index)
            try check(entry.timings.wait, "timings.wait", entry: index)
            try check(entry.timings.receive, "timings.receive", entry: index)
            for (item, event) in (entry.eventStream ?? []).enumerated() {
                try check(event.offsetMs, "_eventStream[\(item)].offset_ms", entry: index, in: 0...maximumMilliseconds)
            }
        }
        if let scale = metadata?.timeScale, CheckedNumber.seconds(scale, in: 0.001...1_000_000) == nil {
            throw RecordingError("\(url.path): _nemosim.time_scale is \(scale), not a number from 0.001 to 1000000: fix or remove it")
        }
    }
}

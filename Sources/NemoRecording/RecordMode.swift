import Foundation
import NemoClient

/// What a replay does with requests the recording does not hold, as VCR's
/// record modes (`nemosim serve --replay FILE --record-mode`):
/// - ``none``: nothing is recorded; an unmatched request gets a 404 naming
///   the closest recorded one (the default, and what CI wants: no network).
/// - ``once``: a recording that exists is replayed as with `none`; one that
///   does not exist yet is recorded: every request goes to the upstream.
/// - ``newEpisodes``: recorded requests are answered from the recording;
///   the others go to the upstream and are appended to it (crash-safe, as
///   every recording: each completed exchange is on disk when it ends).
public enum RecordMode: String, Sendable, CaseIterable {
    case none
    case once
    case newEpisodes = "new-episodes"

    /// `none`, `once`, `new-episodes` (or `new_episodes`, as VCR spells it).
    public init(parsing text: String) throws {
        let spelled = text.lowercased().replacingOccurrences(of: "_", with: "-")
        guard let mode = RecordMode(rawValue: spelled) else {
            throw RecordingError("--record-mode is none, once or new-episodes, got \"\(text)\"")
        }
        self = mode
    }

    /// What to do with the recording at `url`: replay it, replay it and
    /// record what it lacks, or record a new one (it does not exist: no
    /// HAR and no journal of an unfinished one).
    public func action(for url: URL) -> RecordAction {
        let journal = RecordingWriter.journalURL(for: url)
        let exists = FileManager.default.fileExists(atPath: url.path) || Self.holdsExchanges(journal)
        switch (self, exists) {
        case (.none, _), (.once, true): return .replay
        case (.newEpisodes, true): return .replayAndAppend
        case (.once, false), (.newEpisodes, false): return .record
        }
    }

    /// Whether a journal holds more than its header line (a recorder that
    /// could not start leaves only that, or nothing).
    static func holdsExchanges(_ journal: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: journal) else { return false }
        defer { try? handle.close() }
        let start = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard let newline = start.firstIndex(of: UInt8(ascii: "\n")) else { return false }
        return start[(newline + 1)...].contains { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: " ") } || start.count == 1 << 20
    }

    /// Whether this mode may need an upstream.
    public var needsUpstream: Bool { self != .none }
}

/// What a ``RecordMode`` does with a given recording.
public enum RecordAction: Sendable, Equatable {
    /// Answer from the recording only.
    case replay
    /// Answer from the recording; forward and append what it lacks.
    case replayAndAppend
    /// No recording yet: forward everything and record it.
    case record
}

/// Where a replay sends (and records) the requests its recording lacks
/// (``RecordMode/newEpisodes``).
public struct NewEpisodes: Sendable {
    /// The API's base URL, e.g. `https://mega-api-prod.nemovideo.ai`.
    public var upstream: String
    /// Appends to the recording (made with ``RecordingWriter/init(appendingTo:recording:redactor:)``).
    public var writer: RecordingWriter
    /// What forwards (libcurl by default).
    public var transport: (any HTTPTransport)?

    public init(upstream: String, writer: RecordingWriter, transport: (any HTTPTransport)? = nil) {
        self.upstream = upstream
        self.writer = writer
        self.transport = transport
    }
}

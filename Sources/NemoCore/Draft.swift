import Foundation

/// The kind of a draft track (`tt`). Unknown values are kept.
public struct TrackType: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let video = TrackType(rawValue: 0)
    /// Audio or background music.
    public static let audio = TrackType(rawValue: 1)
    /// Text or title overlay.
    public static let text = TrackType(rawValue: 7)

    /// The label the human summary uses.
    public var label: String {
        switch rawValue {
        case 0: return "Video"
        case 1: return "BGM"
        case 7: return "Title"
        default: return "Track type \(rawValue)"
        }
    }

    public var description: String { label }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            rawValue = value
        } else if let text = try? container.decode(String.self), let value = Int(text) {
            rawValue = value
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "track type `tt` is not a number")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One segment (`sg` element) of a track. Times in milliseconds.
///
/// The API documents only the draft's short keys `t`, `tt`, `sg`, `d`, `m`;
/// segments here use `s` (start on the timeline), `d` (duration) and `m`
/// (metadata: `name`, `text`, `volume` 0-1, `src`). Unknown members are kept,
/// so a draft read from a server is sent back unchanged.
public struct Segment: Sendable, Hashable, Codable {
    public var id: String?
    /// Start on the timeline, ms.
    public var start: Int
    /// Duration, ms.
    public var duration: Int
    /// Metadata (`name`, `text`, `volume`, `src`, ...).
    public var metadata: [String: JSONValue]
    /// Members this model does not know, kept as they came.
    public var extras: [String: JSONValue]

    public init(id: String? = nil, start: Int, duration: Int, metadata: [String: JSONValue] = [:], extras: [String: JSONValue] = [:]) {
        self.id = id
        self.start = start
        self.duration = duration
        self.metadata = metadata
        self.extras = extras
    }

    public var end: Int { start + duration }

    private static let known: Set<String> = ["id", "s", "d", "m"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        id = container.lenientString(AnyCodingKey("id"))
        start = container.lenientInt(AnyCodingKey("s")) ?? 0
        duration = container.lenientInt(AnyCodingKey("d")) ?? 0
        metadata = container.lenient([String: JSONValue].self, AnyCodingKey("m")) ?? [:]
        extras = container.extras(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encodeIfPresent(id, forKey: AnyCodingKey("id"))
        try container.encode(start, forKey: AnyCodingKey("s"))
        try container.encode(duration, forKey: AnyCodingKey("d"))
        if !metadata.isEmpty { try container.encode(metadata, forKey: AnyCodingKey("m")) }
        try container.encodeExtras(extras)
    }
}

/// One track (`t` element) of a draft.
public struct Track: Sendable, Hashable, Codable {
    /// `tt`.
    public var type: TrackType
    /// `sg`.
    public var segments: [Segment]
    /// `m`, when present.
    public var metadata: [String: JSONValue]
    public var extras: [String: JSONValue]

    public init(type: TrackType, segments: [Segment], metadata: [String: JSONValue] = [:], extras: [String: JSONValue] = [:]) {
        self.type = type
        self.segments = segments
        self.metadata = metadata
        self.extras = extras
    }

    private static let known: Set<String> = ["tt", "sg", "m"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        type = container.lenient(TrackType.self, AnyCodingKey("tt")) ?? TrackType(rawValue: -1)
        segments = container.lenient([Segment].self, AnyCodingKey("sg")) ?? []
        metadata = container.lenient([String: JSONValue].self, AnyCodingKey("m")) ?? [:]
        extras = container.extras(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encode(type, forKey: AnyCodingKey("tt"))
        try container.encode(segments, forKey: AnyCodingKey("sg"))
        if !metadata.isEmpty { try container.encode(metadata, forKey: AnyCodingKey("m")) }
        try container.encodeExtras(extras)
    }

    /// "Video: city timelapse (0-10s)", "BGM: Lo-fi (0-10s, 35%)", `Title: "Urban Dreams" (0-3s)`.
    public var summary: String {
        let label = metadata["label"]?.stringValue ?? type.label
        guard let first = segments.first else { return "\(label): (empty)" }
        let start = segments.map(\.start).min() ?? 0
        let end = segments.map(\.end).max() ?? 0
        let names = segments.map { Self.describe($0, type: type) }
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }
        var range = "\(Self.seconds(start))-\(Self.seconds(end))s"
        if type == .audio, let volume = first.metadata["volume"]?.doubleValue {
            let percent = volume <= 1 ? volume * 100 : volume
            range += ", \(Int(percent.rounded()))%"
        }
        return "\(label): \(unique.joined(separator: ", ")) (\(range))"
    }

    private static func describe(_ segment: Segment, type: TrackType) -> String {
        let m = segment.metadata
        if type == .text {
            return "\"" + (m["text"]?.stringValue ?? m["title"]?.stringValue ?? m["name"]?.stringValue ?? "") + "\""
        }
        return m["name"]?.stringValue ?? m["title"]?.stringValue ?? m["text"]?.stringValue ?? segment.id ?? "untitled"
    }

    /// Milliseconds as seconds for a summary: `10`, `2.5`.
    public static func seconds(_ milliseconds: Int) -> String {
        if milliseconds % 1000 == 0 { return String(milliseconds / 1000) }
        let value = Double(milliseconds) / 1000
        return String(format: "%.1f", value)
    }
}

/// The editing draft of a session: `{"t": [tracks], "d": ms, "m": {...}}`.
public struct Draft: Sendable, Hashable, Codable {
    /// `t`.
    public var tracks: [Track]
    /// `d`, the duration in milliseconds, when given.
    public var duration: Int?
    /// `m`, e.g. `{"title": "...", "width": 1920, "height": 1080}`.
    public var metadata: [String: JSONValue]
    public var extras: [String: JSONValue]

    public init(tracks: [Track] = [], duration: Int? = nil, metadata: [String: JSONValue] = [:], extras: [String: JSONValue] = [:]) {
        self.tracks = tracks
        self.duration = duration
        self.metadata = metadata
        self.extras = extras
    }

    /// A draft can be exported when at least one track has a segment.
    public var isReadyForExport: Bool {
        tracks.contains { !$0.segments.isEmpty }
    }

    /// The duration: `d` when given, else the end of the last segment.
    public var effectiveDuration: Int {
        duration ?? tracks.flatMap(\.segments).map(\.end).max() ?? 0
    }

    /// The human summary line, e.g.
    /// `Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)`.
    public var summary: String {
        if tracks.isEmpty { return "Timeline (0 tracks): empty" }
        let noun = tracks.count == 1 ? "track" : "tracks"
        let items = tracks.enumerated().map { "\($0.offset + 1). \($0.element.summary)" }
        return "Timeline (\(tracks.count) \(noun)): " + items.joined(separator: " ")
    }

    private static let known: Set<String> = ["t", "d", "m"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        tracks = container.lenient([Track].self, AnyCodingKey("t")) ?? []
        duration = container.lenientInt(AnyCodingKey("d"))
        metadata = container.lenient([String: JSONValue].self, AnyCodingKey("m")) ?? [:]
        extras = container.extras(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encode(tracks, forKey: AnyCodingKey("t"))
        try container.encodeIfPresent(duration, forKey: AnyCodingKey("d"))
        if !metadata.isEmpty { try container.encode(metadata, forKey: AnyCodingKey("m")) }
        try container.encodeExtras(extras)
    }
}

import Foundation
import NemoCore
import NemoReports

/// HAR 1.2, the archive format browsers, proxies and HAR viewers read, with
/// nemosim's extensions in underscore-prefixed fields (which HAR allows):
/// `_eventStream` on an entry (each event of a `/run_sse` response with its
/// offset from the request start) and `_nemosim` on the log (metadata).
public struct HARFile: Codable, Sendable {
    public var log: HARLog

    public init(log: HARLog) { self.log = log }
}

public struct HARLog: Codable, Sendable {
    public var version = "1.2"
    public var creator: HARCreator
    public var pages: [JSONValue] = []
    public var entries: [HAREntry]
    public var comment: String?
    /// Recording metadata (tool version, target, seed, time scale, scenario results).
    public var nemosim: RecordingMetadata?

    enum CodingKeys: String, CodingKey {
        case version, creator, pages, entries, comment
        case nemosim = "_nemosim"
    }

    public init(creator: HARCreator, entries: [HAREntry], metadata: RecordingMetadata?) {
        self.creator = creator
        self.entries = entries
        self.nemosim = metadata
    }

    /// HAR 1.2 makes `pages` and `comment` optional (tools that record no
    /// pages, such as a proxy's export, leave `pages` out).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decodeIfPresent(String.self, forKey: .version) ?? "1.2"
        creator = try container.decode(HARCreator.self, forKey: .creator)
        pages = try container.decodeIfPresent([JSONValue].self, forKey: .pages) ?? []
        entries = try container.decode([HAREntry].self, forKey: .entries)
        comment = try container.decodeIfPresent(String.self, forKey: .comment)
        nemosim = try container.decodeIfPresent(RecordingMetadata.self, forKey: .nemosim)
    }
}

public struct HARCreator: Codable, Sendable {
    public var name: String
    public var version: String

    public init(name: String = "nemosim", version: String) {
        self.name = name
        self.version = version
    }
}

/// What a recording was made against.
public struct RecordingMetadata: Codable, Sendable, Hashable {
    public var toolVersion: String
    /// The API base URL recorded (production or a simulator).
    public var target: String
    /// When the target was the simulator: its seed and time scale.
    public var seed: UInt64?
    public var timeScale: Double?
    /// The URL clients used when it differs from the target (a recording
    /// proxy's): replay servers rewrite it, and the target, to their own.
    public var recordedVia: String?
    /// A scenario run's results (`nemosim run --record`), redacted like the
    /// rest of the file, from which the run's reports can be made again.
    public var scenario: RunResult?
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case toolVersion = "tool_version", target, seed, timeScale = "time_scale", scenario, createdAt = "created_at", recordedVia = "recorded_via"
    }

    public init(toolVersion: String, target: String, seed: UInt64? = nil, timeScale: Double? = nil, scenario: RunResult? = nil, createdAt: String) {
        self.toolVersion = toolVersion
        self.target = target
        self.seed = seed
        self.timeScale = timeScale
        self.scenario = scenario
        self.createdAt = createdAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        toolVersion = (try? container.decodeIfPresent(String.self, forKey: .toolVersion)) ?? ""
        target = (try? container.decodeIfPresent(String.self, forKey: .target)) ?? ""
        seed = try? container.decodeIfPresent(UInt64.self, forKey: .seed)
        timeScale = try? container.decodeIfPresent(Double.self, forKey: .timeScale)
        recordedVia = try? container.decodeIfPresent(String.self, forKey: .recordedVia)
        // Results another tool (or an older build) wrote in another shape are
        // left out rather than making the whole recording unreadable.
        scenario = (try? container.decodeIfPresent(RunResult.self, forKey: .scenario)) ?? nil
        createdAt = (try? container.decodeIfPresent(String.self, forKey: .createdAt)) ?? ""
    }
}

public struct HARHeader: Codable, Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct HARPostData: Codable, Sendable, Hashable {
    public var mimeType: String
    public var text: String
    /// Multipart parts, described (file contents are not recorded).
    public var params: [HARParam]?

    public init(mimeType: String, text: String, params: [HARParam]? = nil) {
        self.mimeType = mimeType
        self.text = text
        self.params = params
    }
}

public struct HARParam: Codable, Sendable, Hashable {
    public var name: String
    public var fileName: String?
    public var contentType: String?
    public var value: String?
}

public struct HARRequest: Codable, Sendable, Hashable {
    public var method: String
    public var url: String
    public var httpVersion = "HTTP/1.1"
    public var cookies: [JSONValue] = []
    public var headers: [HARHeader]
    public var queryString: [HARHeader]
    public var postData: HARPostData?
    public var headersSize = -1
    public var bodySize: Int

    public init(method: String, url: String, headers: [HARHeader], queryString: [HARHeader], postData: HARPostData?, bodySize: Int) {
        self.method = method
        self.url = url
        self.headers = headers
        self.queryString = queryString
        self.postData = postData
        self.bodySize = bodySize
    }
}

public struct HARContent: Codable, Sendable, Hashable {
    public var size: Int
    public var mimeType: String
    public var text: String?
    /// "base64" for binary bodies.
    public var encoding: String?
    public var comment: String?

    public init(size: Int, mimeType: String, text: String?, encoding: String? = nil, comment: String? = nil) {
        self.size = size
        self.mimeType = mimeType
        self.text = text
        self.encoding = encoding
        self.comment = comment
    }
}

public struct HARResponse: Codable, Sendable, Hashable {
    public var status: Int
    public var statusText: String
    public var httpVersion = "HTTP/1.1"
    public var cookies: [JSONValue] = []
    public var headers: [HARHeader]
    public var content: HARContent
    public var redirectURL = ""
    public var headersSize = -1
    public var bodySize: Int

    public init(status: Int, statusText: String, headers: [HARHeader], content: HARContent, bodySize: Int) {
        self.status = status
        self.statusText = statusText
        self.headers = headers
        self.content = content
        self.bodySize = bodySize
    }
}

public struct HARTimings: Codable, Sendable, Hashable {
    public var send: Double
    public var wait: Double
    public var receive: Double
}

/// What kind of event-stream item was recorded.
public enum RecordedItemKind: String, Codable, Sendable, Hashable {
    case event, comment, retry
}

/// How an exchange ended when it was not a plain response; written in the
/// HAR as `closed`, `cancelled`, `dropped: <why>` or `failed: <why>`.
public enum ExchangeEnding: Codable, Sendable, Hashable, CustomStringConvertible {
    /// An event stream the server closed.
    case closed
    /// The client left it (a timeout of its own, a cancelled task).
    case cancelled
    /// It broke off mid-stream.
    case dropped(String)
    /// No usable answer (the connection failed).
    case failed(String)

    public var description: String {
        switch self {
        case .closed: return "closed"
        case .cancelled: return "cancelled"
        case .dropped(let why): return "dropped: \(why)"
        case .failed(let why): return "failed: \(why)"
        }
    }

    public init(_ text: String) {
        switch text {
        case "closed": self = .closed
        case "cancelled": self = .cancelled
        default:
            if text.hasPrefix("dropped") {
                self = .dropped(text.hasPrefix("dropped: ") ? String(text.dropFirst("dropped: ".count)) : "")
            } else {
                self = .failed(text.hasPrefix("failed: ") ? String(text.dropFirst("failed: ".count)) : text)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// One event-stream item with its arrival offset from the request start.
public struct RecordedStreamItem: Codable, Sendable, Hashable {
    public var kind: RecordedItemKind
    /// Milliseconds from the request start.
    public var offsetMs: Double
    public var id: String?
    public var event: String?
    public var data: String?

    enum CodingKeys: String, CodingKey {
        case kind, offsetMs = "offset_ms", id, event, data
    }

    public init(kind: RecordedItemKind, offsetMs: Double, id: String? = nil, event: String? = nil, data: String? = nil) {
        self.kind = kind
        self.offsetMs = offsetMs
        self.id = id
        self.event = event
        self.data = data
    }
}

public struct HAREntry: Codable, Sendable, Hashable {
    public var startedDateTime: String
    /// Total milliseconds.
    public var time: Double
    public var request: HARRequest
    public var response: HARResponse
    public var cache: [String: JSONValue] = [:]
    public var timings: HARTimings
    public var comment: String?
    /// The event stream of a `/run_sse` response, with offsets.
    public var eventStream: [RecordedStreamItem]?
    /// How the exchange ended when it was not a plain response.
    public var ending: ExchangeEnding?

    enum CodingKeys: String, CodingKey {
        case startedDateTime, time, request, response, cache, timings, comment
        case eventStream = "_eventStream"
        case ending = "_ending"
    }

    public init(
        startedDateTime: String, time: Double, request: HARRequest, response: HARResponse, timings: HARTimings,
        eventStream: [RecordedStreamItem]? = nil, ending: ExchangeEnding? = nil
    ) {
        self.startedDateTime = startedDateTime
        self.time = time
        self.request = request
        self.response = response
        self.timings = timings
        self.eventStream = eventStream
        self.ending = ending
    }
}

/// One endpoint of the NemoVideo agent API, described once: its method, its
/// path template, the scope a token needs, and how it answers. The client
/// builds its paths from these, the simulator registers its routes, answers
/// its polled GETs on the event loop and checks scopes from them: a path is
/// written here and nowhere else.
public final class Route: Sendable, Hashable, CustomStringConvertible {
    /// The shape of a route's JSON answers, errors included.
    public enum Envelope: String, Sendable, Hashable {
        /// `{"code": 0, "message": "...", "data": {...}}`.
        case standard
        /// `{"success": true, "data": {...}}` (the render endpoints).
        case render
    }

    /// What a successful answer carries.
    public enum Body: String, Sendable, Hashable {
        /// JSON in the route's envelope.
        case json
        /// `text/event-stream` (errors before the stream come as JSON).
        case eventStream = "event_stream"
        /// A file (an MP4); errors come as JSON.
        case file
    }

    /// A path segment: fixed text, or a parameter (`{session_id}`).
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
    }

    /// A short name (`credits`, `render_status`).
    public let name: String
    /// `GET`, `POST`.
    public let method: String
    /// The path with `{name}` parameters, e.g. `/api/render/proxy/lambda/{id}`.
    public let template: String
    /// The scope a bearer token needs; nil when the call takes no token.
    public let scope: TokenScope?
    public let envelope: Envelope
    public let body: Body
    /// Clients call it in loops (balance, state, render status): the
    /// simulator answers it on the event loop, without a task.
    public let polled: Bool
    /// What it does, in a phrase.
    public let summary: String
    public let segments: [Segment]

    init(
        _ name: String, _ method: String, _ template: String, scope: TokenScope?, envelope: Envelope = .standard, body: Body = .json,
        polled: Bool = false, summary: String
    ) {
        self.name = name
        self.method = method
        self.template = template
        self.scope = scope
        self.envelope = envelope
        self.body = body
        self.polled = polled
        self.summary = summary
        segments = template.split(separator: "/").map { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
        }
    }

    public var description: String { "\(method) \(template)" }

    /// Routes are table entries: one is another when it is the same entry.
    public static func == (a: Route, b: Route) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// The names of the path's parameters, in order.
    public var parameters: [String] {
        segments.compactMap { if case .parameter(let name) = $0 { return name } else { return nil } }
    }

    /// The template in Hummingbird's router syntax (`:id` for `{id}`).
    public var routerPath: String {
        "/" + segments.map { segment -> String in
            switch segment {
            case .literal(let text): return text
            case .parameter(let name): return ":" + name
            }
        }.joined(separator: "/")
    }

    /// The path with each parameter filled in, percent-encoded.
    public func path(_ values: [String: String]) -> String {
        "/" + segments.map { segment -> String in
            switch segment {
            case .literal(let text): return text
            case .parameter(let name): return Self.encode(values[name] ?? "")
            }
        }.joined(separator: "/")
    }

    /// The parameters of `path` when it is this route's in its plain form
    /// (no query, no percent-encoding, no empty or dot segments), else nil.
    public func match(_ path: String) -> [String: String]? {
        Self.plainSegments(path).flatMap(match)
    }

    /// The parameters, when these segments of a plain path are this route's.
    func match(_ parts: [Substring.UTF8View]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        var values: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let text): guard part.elementsEqual(text.utf8) else { return nil }
            case .parameter(let name): values[name] = String(Substring(part))
            }
        }
        return values
    }

    /// The segments of a path in its plain form, or nil when the path has
    /// anything a router might read otherwise: a query, a fragment,
    /// percent-encoding, empty or dot segments, a trailing slash.
    static func plainSegments(_ path: String) -> [Substring.UTF8View]? {
        let utf8 = path.utf8
        guard utf8.first == UInt8(ascii: "/"), utf8.count < 1024 else { return nil }
        for byte in utf8 where byte == UInt8(ascii: "?") || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "#") {
            return nil
        }
        let parts = Substring(path).utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for part in parts where part.isEmpty || part.elementsEqual(".".utf8) || part.elementsEqual("..".utf8) { return nil }
        return parts
    }

    /// Percent-encodes a path segment (RFC 3986 unreserved characters kept).
    public static func encode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count < 2 ? "0" + hex : hex)
            }
        }
        return out
    }
}

extension Route {
    /// Every endpoint of the API.
    public static let all: [Route] = [
        .anonymousToken, .createSession, .state, .runSSE, .upload, .credits, .renderSubmit, .renderStatus, .renderCancel, .renderDownload,
        .claimToken, .createToken, .listTokens, .revokeToken,
    ]

    /// The route a request is for, with its parameters: the one route of
    /// the table whose method and plain-form path match; nil when none does,
    /// or when more than one does (a router would have to choose).
    public static func resolve(method: String, path: String, in routes: [Route] = all) -> (route: Route, parameters: [String: String])? {
        guard let parts = plainSegments(path) else { return nil }
        var found: (route: Route, parameters: [String: String])?
        for route in routes where route.method == method {
            guard let parameters = route.match(parts) else { continue }
            if found != nil { return nil }
            found = (route, parameters)
        }
        return found
    }
}

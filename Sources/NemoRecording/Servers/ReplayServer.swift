import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NemoClient
import NemoCore
import NemoHTTPServer
import Synchronization

/// An HTTP server that answers from a recording (`nemosim serve --replay`):
/// any client in any language can point at it. Requests match as in
/// ``ReplayMatcher``; event streams are re-sent at their recorded offsets
/// divided by the time scale (or all at once); a request with no match gets
/// a 404 naming the closest recorded request and how it differs.
public final class ReplayServer: Sendable {
    public let url: String
    public let port: Int
    private let server: RunningHTTPServer
    /// Which recorded exchanges answered (``unused``).
    public let matcher: ReplayMatcher

    private init(server: RunningHTTPServer, matcher: ReplayMatcher) {
        self.url = server.url
        self.port = server.port
        self.server = server
        self.matcher = matcher
    }

    /// The recorded exchanges no request has used yet, in recorded order.
    public var unused: [(index: Int, entry: HAREntry)] { matcher.unused }

    /// Origins of absolute URLs in recorded answers whose path and query
    /// the recording also fetched: the address a client was sent to (a
    /// proxy's, when a recorder such as mitmproxy wrote the upstream's
    /// address in its requests). Replayed, such URLs point here.
    static func originsOfRecordedURLs(in recording: Recording) -> [String] {
        var fetched = Set<Substring>()
        for entry in recording.entries {
            guard let slash = entry.request.url.firstIndex(of: "/").flatMap({ entry.request.url[$0...].dropFirst(2).firstIndex(of: "/") }) else { continue }
            fetched.insert(entry.request.url[slash...])
        }
        guard !fetched.isEmpty, let pattern = try? NSRegularExpression(pattern: #"(https?://[A-Za-z0-9.\-\[\]:]+)(/[^"\s\\<>]*)"#) else { return [] }
        var origins: [String] = []
        for entry in recording.entries {
            guard let text = entry.response.content.text, text.contains("://"), text.utf8.count <= 1 << 20 else { continue }
            let range = NSRange(text.startIndex..., in: text)
            for match in pattern.matches(in: text, range: range) {
                guard let originRange = Range(match.range(at: 1), in: text), let pathRange = Range(match.range(at: 2), in: text) else { continue }
                let origin = String(text[originRange])
                if fetched.contains(text[pathRange]), !origins.contains(origin) { origins.append(origin) }
            }
        }
        return origins
    }

    /// - Parameter clock: what recorded offsets are paced by (real time unless a test gives another).
    public static func start(
        recording: Recording, timing: ReplayTiming, host: String = "127.0.0.1", port: Int = 0, handleSignals: Bool = false,
        clock: any RecordingClock = .continuous, match: ReplayMatch = .default, newEpisodes: NewEpisodes? = nil
    ) async throws -> ReplayServer {
        // Absolute URLs of the recorded hosts (in bodies, e.g. outputUrl) point here instead.
        let ownURL = Mutex<String?>(nil)
        // The recorded origins (scheme, host and port only): the proxy's and
        // the target's, then every origin the recorded requests went to (an
        // embedded simulator's port).
        func origin(_ url: String) -> String? {
            guard let components = URLComponents(string: url), let scheme = components.scheme, scheme.hasPrefix("http"),
                let host = components.host, !host.isEmpty
            else { return nil }
            return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)" + (components.port.map { ":\($0)" } ?? "")
        }
        var origins: [String] = []
        for url in [recording.metadata?.recordedVia, recording.metadata?.target].compactMap({ $0 }) + recording.entries.map(\.request.url) {
            if let origin = origin(url), !origins.contains(origin) { origins.append(origin) }
        }
        for other in Self.originsOfRecordedURLs(in: recording) where !origins.contains(other) { origins.append(other) }
        // Longest first, so that one origin that is a prefix of another
        // (`:4123` and `:41237`) is never replaced inside it.
        let recordedHosts = origins.sorted { $0.count > $1.count }
        // Recorded bodies name any of these; a replayed one names this server.
        let matcher = ReplayMatcher(recording: recording, origins: origins, match: match)
        // Its own health answer, unless the recording holds one (a recorded
        // simulator's, which a replayed run of scenarios reads).
        let recordsHealth = recording.entries.contains { ReplayMatcher.normalizedPath($0.request.url) == "/_nemosim/health" }
        // New episodes: what the recording lacks goes upstream and is
        // recorded as the upstream answered (its URLs, which a later replay
        // knows as a recorded origin); the client gets the upstream's URLs
        // pointing here, so that downloads come back through this server.
        let upstream = newEpisodes.map { $0.upstream.hasSuffix("/") ? String($0.upstream.dropLast()) : $0.upstream }
        let recorder = newEpisodes.map { RecordingTransport(base: $0.transport ?? CurlTransport(), writer: $0.writer) }
        let forward = recorder.map { RewritingTransport(base: $0, from: upstream!) }
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            if let answer = Self.replayAdmin(request, matcher: matcher, recordsHealth: recordsHealth) { return answer }
            var request = request
            let buffer = try await request.collectBody(upTo: 64 * 1024 * 1024)
            let url = request.uri.string
            let fields = request.headers
            var key = matcher.key(
                method: request.method.rawValue, url: url, body: String(buffer: buffer), contentType: fields[.contentType],
                header: { name in HTTPField.Name(name).flatMap { fields[$0] } })
            // URLs this server handed out come back in bodies (a draft's media):
            // match them as any recorded origin.
            if let own = ownURL.withLock({ $0 }) {
                key = key.replacingOccurrences(of: own, with: ReplayMatcher.originPlaceholder)
            }
            let entry: HAREntry
            do {
                entry = try matcher.match(
                    key: key, authorization: request.headers[.authorization],
                    description: "\(request.method.rawValue) \(ReplayMatcher.normalizedPath(url))")
            } catch let error as TransportError {
                if let forward, let upstream {
                    let body: HTTPRequestBody = buffer.readableBytes == 0 ? .none : .data(Data(buffer: buffer), contentType: fields[.contentType] ?? "application/octet-stream")
                    return await RecordingProxy.forward(request, body: body, to: upstream, via: forward)
                }
                return ServerStarter.jsonError(.notFound, error.message)
            }
            // An exchange recorded without a response (the connection failed):
            // a gateway error saying so, as ReplayTransport throws one.
            do {
                try ReplayTransport.failIfNoResponse(entry)
            } catch let error as TransportError {
                return ServerStarter.jsonError(.badGateway, error.message)
            }
            var headers = HTTPFields()
            for header in entry.response.headers {
                let lower = header.name.lowercased()
                guard !["content-length", "transfer-encoding", "connection", "date", "server"].contains(lower),
                    let name = HTTPField.Name(header.name)
                else { continue }
                headers.append(HTTPField(name: name, value: header.value))
            }
            let status = HTTPResponse.Status(code: entry.response.status)
            guard let items = entry.eventStream else {
                try await ReplayTransport.waitForWholeStream(entry, timing: timing, clock: clock)
                var body = ReplayTransport.body(entry)
                if let own = ownURL.withLock({ $0 }), entry.response.content.encoding == nil, var text = String(data: body, encoding: .utf8) {
                    // Through a marker, so that no origin is rewritten inside
                    // one already rewritten (the server's own URL may start
                    // like a recorded one).
                    let marker = "\u{0}nemosim-origin\u{0}"
                    for host in recordedHosts { text = text.replacingOccurrences(of: host, with: marker) }
                    text = text.replacingOccurrences(of: marker, with: own)
                    body = Data(text.utf8)
                }
                return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
            }
            return Response(status: status, headers: headers, body: ResponseBody { writer in
                if try await ReplayTransport.play(entry, items, timing: timing, clock: clock, emit: { try await writer.write(ByteBuffer(string: $0)) }) != nil {
                    throw ReplayedDrop()  // cut off, as recorded
                }
                try await writer.finish(nil)
            })
        }
        let server = ReplayServer(
            server: try await ServerStarter.start(handler: handler, host: host, port: port, handleSignals: handleSignals), matcher: matcher)
        ownURL.withLock { $0 = server.url }
        forward?.setTarget(server.url)
        return server
    }

    /// The replay server's own routes: `GET /_nemosim/health` (when the
    /// recording has none: `mode: replay`, no admin API), `POST
    /// /_nemosim/reset` (rewind: every recorded answer again from the
    /// start) and `GET /_nemosim/replay/unused` (the exchanges not used yet).
    static func replayAdmin(_ request: Request, matcher: ReplayMatcher, recordsHealth: Bool) -> Response? {
        let path = request.uri.path
        switch (request.method, path) {
        case (.get, "/_nemosim/health") where !recordsHealth:
            let unused = matcher.unused.count
            return JSONAnswer.json([
                "status": "ok", "mode": "replay", "version": .string(NemosimVersion.current),
                "exchanges": .number(Double(matcher.recording.entries.count)), "unused": .number(Double(unused)),
            ]).response
        case (.post, "/_nemosim/reset"):
            matcher.rewind()
            return JSONAnswer.json(["status": "rewound", "exchanges": .number(Double(matcher.recording.entries.count))]).response
        case (.get, "/_nemosim/replay/unused"):
            let unused = matcher.unused
            return JSONAnswer.json([
                "count": .number(Double(unused.count)),
                "unused": .array(unused.map { item in
                    [
                        "index": .number(Double(item.index + 1)), "method": .string(item.entry.request.method),
                        "path": .string(ReplayMatcher.normalizedPath(item.entry.request.url)), "status": .number(Double(item.entry.response.status)),
                    ]
                }),
            ]).response
        default:
            return nil
        }
    }

    /// A recorded stream that was cut off is cut off again.
    struct ReplayedDrop: Error {}

    public func stop() async {
        await server.stop()
    }

    public func wait() async throws {
        try await server.wait()
    }
}

/// Starts the recording servers on the shared starter (quiet logs; a
/// start failure as a ``RecordingError``).
/// What the replay server and the recording proxy share: one handler for
/// every path and method, and errors in the API's envelope shape.
enum ServerStarter {
    static func start(
        handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response, host: String, port: Int, handleSignals: Bool
    ) async throws -> RunningHTTPServer {
        let router = Router()
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .head] {
            router.on("**", method: method, use: handler)
            router.on("/", method: method, use: handler)
        }
        var logger = Logger(label: "nemosim")
        logger.logLevel = .warning
        do {
            return try await HTTPServerStarter.start(
                responder: router.buildResponder(), host: host, port: port, handleSignals: handleSignals, logger: logger)
        } catch let error as HTTPServerStartError {
            throw RecordingError(error.description)
        }
    }

    /// `{"code": STATUS, "message": ..., "data": null}` with that status.
    static func jsonError(_ status: HTTPResponse.Status, _ message: String) -> Response {
        JSONAnswer.error(status: status, code: Int(status.code), message: message, envelope: .standard).response
    }
}

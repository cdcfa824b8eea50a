import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NemoClient
import NemoCore
import NemoHTTPServer

/// A recording proxy (`nemosim record --upstream URL --out FILE`): any client
/// in any language points at it; every request is forwarded through libcurl
/// to the upstream, event streams are passed through as they arrive (never
/// buffered), and every exchange is recorded, redacted and crash-safe.
public final class RecordingProxy: Sendable {
    public let url: String
    public let port: Int
    public let writer: RecordingWriter
    private let server: RunningHTTPServer

    private init(server: RunningHTTPServer, writer: RecordingWriter) {
        self.url = server.url
        self.port = server.port
        self.writer = writer
        self.server = server
    }

    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length", "expect",
    ]

    /// Starts the proxy. `transport` is what forwards (the libcurl one by default).
    public static func start(
        upstream: String, writer: RecordingWriter, transport: (any HTTPTransport)? = nil, host: String = "127.0.0.1", port: Int = 0,
        handleSignals: Bool = false
    ) async throws -> RecordingProxy {
        guard let base = URL(string: upstream), let scheme = base.scheme, scheme == "http" || scheme == "https" else {
            throw RecordingError("--upstream must be an http(s) URL, got \(upstream)")
        }
        let upstreamBase = upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream
        // A proxy killed before it could clean up left its spool files: gone now.
        Spool.removeLeftovers()
        let rewriting = RewritingTransport(base: transport ?? CurlTransport(), from: upstreamBase)
        let forward = RecordingTransport(base: rewriting, writer: writer)
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let spool = try await Spool.collect(request.body)
            defer { spool.remove() }
            let body: HTTPRequestBody
            let contentType = request.headers[.contentType] ?? "application/octet-stream"
            switch spool {
            case .empty: body = .none
            case .memory(let data): body = .data(data, contentType: contentType)
            case .file(let url): body = .file(path: url.path, contentType: contentType)
            }
            return await Self.forward(request, body: body, to: upstreamBase, via: forward)
        }
        let proxy = RecordingProxy(server: try await ServerStarter.start(handler: handler, host: host, port: port, handleSignals: handleSignals), writer: writer)
        rewriting.setTarget(proxy.url)
        writer.setRecordedVia(proxy.url)
        return proxy
    }

    /// Sends `request` (its body already read) to the upstream through
    /// `transport` (which records it) and answers with what came back, an
    /// event stream passed through as it arrives.
    static func forward(_ request: Request, body: HTTPRequestBody, to upstreamBase: String, via transport: any HTTPTransport) async -> Response {
        var headers: [(name: String, value: String)] = []
        for field in request.headers where !hopByHop.contains(field.name.canonicalName) {
            if field.name.canonicalName == "content-type" { continue }
            headers.append((field.name.rawName, field.value))
        }
        if case .none = body, let type = request.headers[.contentType] { headers.append(("Content-Type", type)) }
        let outgoing = ClientRequest(method: request.method.rawValue, url: upstreamBase + request.uri.string, headers: headers, body: body, timeout: 3600)
        let iterator = StreamBox(transport.stream(outgoing).makeAsyncIterator())
        let first: HTTPStreamPart?
        do {
            first = try await iterator.next()
        } catch {
            return ServerStarter.jsonError(.badGateway, "recording proxy: the upstream did not answer: \(error)")
        }
        guard case .head(let status, let upstreamHeaders) = first else {
            return Response(status: .badGateway)
        }
        var fields = HTTPFields()
        for (name, value) in upstreamHeaders where !hopByHop.contains(name.lowercased()) {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        return Response(status: .init(code: status), headers: fields, body: ResponseBody { writer in
            while let part = try await iterator.next() {
                if case .body(let data) = part { try await writer.write(ByteBuffer(data: data)) }
            }
            try await writer.finish(nil)
        })
    }

    /// Stops accepting, lets open exchanges finish, and writes the HAR.
    public func stop() async throws {
        await server.stop()
        Spool.removeLeftovers(includingOwn: true)
        try writer.close()
    }

    /// Waits for SIGINT/SIGTERM (when started with `handleSignals`), then writes the HAR.
    public func wait() async throws {
        _ = try? await server.wait()
        Spool.removeLeftovers(includingOwn: true)
        try writer.close()
    }
}

/// An iterator shared with the response body writer (used by one task at a time).
final class StreamBox: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<HTTPStreamPart, any Error>.Iterator
    init(_ iterator: AsyncThrowingStream<HTTPStreamPart, any Error>.Iterator) { self.iterator = iterator }
    func next() async throws -> HTTPStreamPart? { try await iterator.next() }
}

/// A request body: empty, small (in memory), or spooled to a temporary file
/// (large uploads are never held in memory).
enum Spool: Sendable {
    case empty
    case memory(Data)
    case file(URL)

    static let memoryLimit = 1 << 20

    /// The folder spool files go to.
    static var folder: URL { FileManager.default.temporaryDirectory }
    static let prefix = "nemosim-proxy-"

    /// A new spool file's URL: `nemosim-proxy-PID-UUID.body` (the process id
    /// tells a later proxy whether its maker is still alive).
    static func newFileURL() -> URL {
        folder.appendingPathComponent("\(prefix)\(getpid())-\(UUID().uuidString).body")
    }

    /// Removes spool files whose proxy is gone (killed before it could
    /// remove them), and this process's own when `includingOwn`.
    static func removeLeftovers(includingOwn: Bool = false) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        let own = getpid()
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".body") {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
            let alive = pid != own && (kill(pid, 0) == 0 || errno == EPERM)
            if (pid == own && includingOwn) || (pid != own && !alive) {
                try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            }
        }
    }

    /// Reads the body; a body cut off (the client went away) leaves no file.
    static func collect(_ body: RequestBody) async throws -> Spool {
        var file: (url: URL, handle: FileHandle)?
        do {
            return try await collect(body, into: &file)
        } catch {
            if let file {
                try? file.handle.close()
                try? FileManager.default.removeItem(at: file.url)
            }
            throw error
        }
    }

    private static func collect(_ body: RequestBody, into file: inout (url: URL, handle: FileHandle)?) async throws -> Spool {
        var data = Data()
        for try await chunk in body {
            if let file {
                try file.handle.write(contentsOf: Data(chunk.readableBytesView))
                continue
            }
            data.append(contentsOf: chunk.readableBytesView)
            if data.count > memoryLimit {
                let url = newFileURL()
                guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                    throw RecordingError("cannot spool a request body to \(url.path)")
                }
                let handle = try FileHandle(forWritingTo: url)
                try handle.write(contentsOf: data)
                data = Data()
                file = (url, handle)
            }
        }
        if let file {
            try file.handle.close()
            return .file(file.url)
        }
        return data.isEmpty ? .empty : .memory(data)
    }

    func remove() {
        if case .file(let url) = self { try? FileManager.default.removeItem(at: url) }
    }
}

import Foundation
import NemoClient
import Synchronization

/// A transport decorator that rewrites the upstream's base URL in JSON
/// response bodies to another (a proxy's), so that absolute URLs the
/// upstream hands out (a simulator's `outputUrl`) lead back through it.
public final class RewritingTransport: HTTPTransport, Sendable {
    public let base: any HTTPTransport
    public let from: String
    private let target = Mutex<String?>(nil)

    public init(base: any HTTPTransport, from: String) {
        self.base = base
        self.from = from
    }

    /// The base URL to write instead of `from` (known once the proxy is bound).
    public func setTarget(_ url: String) { target.withLock { $0 = url } }

    /// Only JSON bodies carry URLs to rewrite.
    static func isJSON(_ headers: [(name: String, value: String)]) -> Bool {
        headers.contains { $0.name.lowercased() == "content-type" && $0.value.lowercased().contains("json") }
    }

    /// A JSON body with `from` written as the target.
    func rewrite(_ body: Data) -> Data {
        guard let to = target.withLock({ $0 }), let text = String(data: body, encoding: .utf8), text.contains(from) else { return body }
        return Data(text.replacingOccurrences(of: from, with: to).utf8)
    }

    public func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        var response = try await base.send(request, progress: progress)
        if Self.isJSON(response.headers) { response.body = rewrite(response.body) }
        return response
    }

    public func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        try await base.download(request, to: file, progress: progress)
    }

    public func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        let upstream = base.stream(request)
        let (stream, continuation) = AsyncThrowingStream<HTTPStreamPart, any Error>.makeStream()
        let task = Task {
            var isJSON = false
            var pending = Data()
            do {
                for try await part in upstream {
                    switch part {
                    case .head(_, let fields):
                        isJSON = Self.isJSON(fields)
                        continuation.yield(part)
                    case .body(let data):
                        // JSON bodies are rewritten whole; streams pass through as they come.
                        if isJSON { pending.append(data) } else { continuation.yield(part) }
                    }
                }
                if isJSON { continuation.yield(.body(rewrite(pending))) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return stream
    }
}

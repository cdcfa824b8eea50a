import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

extension JSONAnswer {
    /// The head Hummingbird writes for ``response``: `Content-Type`,
    /// `Content-Length` and `Date`, in that order (the simulator's event
    /// loop writes the same for its answers).
    public func head(date: String) -> HTTPResponse {
        HTTPResponse(status: status, headerFields: [.contentType: Self.contentType, .contentLength: String(body.readableBytes), .date: date])
    }

    /// ``head(date:)`` as NIO's HTTP/1 type: what `HTTP1ToHTTPServerCodec`
    /// makes of it (the same fields, names and order).
    func http1Head(date: String) -> HTTPResponseHead {
        let headers = HTTPHeaders([("Content-Type", Self.contentType), ("Content-Length", String(body.readableBytes)), ("Date", date)])
        return HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase), headers: headers)
    }
}

/// Writes a whole JSON answer's head and body past the HTTPTypes codec
/// (`HTTP1ToHTTPServerCodec`), straight to NIO's HTTP/1 encoder, as NIO's
/// own types (``JSONAnswer/http1Head(date:)``): without building `HTTPFields`
/// and an `HTTPResponse` first and converting them on the way out (2 of a
/// credits answer's 32.8 allocations; `scripts/bench/profile allocations`).
/// The encoder still sees the head, so it still frames the answer (and
/// pairs it with its request, which a `HEAD` needs); the answer's `.end`
/// goes the usual way, through the handlers that watch it
/// (``ConnectionDeadlineHandler``) and the codec.
///
/// Made by a handler after the codec when it is added to the pipeline, and
/// dropped when it is removed (it holds the codec's context).
public struct HeadShortcut {
    private let codec: ChannelHandlerContext

    /// Nil when the pipeline has no `HTTP1ToHTTPServerCodec` (the caller
    /// then writes ``JSONAnswer/head(date:)`` as an `HTTPResponsePart`).
    public init?(_ pipeline: ChannelPipeline.SynchronousOperations) {
        guard let codec = try? pipeline.context(handlerType: HTTP1ToHTTPServerCodec.self) else { return nil }
        self.codec = codec
    }

    /// Writes the answer's head and body (not its end).
    public func write(_ answer: JSONAnswer, date: String) {
        codec.write(NIOAny(HTTPServerResponsePart.head(answer.http1Head(date: date))), promise: nil)
        codec.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(answer.body))), promise: nil)
    }
}

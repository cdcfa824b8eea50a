import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Writes a whole JSON answer's head and body past the HTTPTypes codec
/// (`HTTP1ToHTTPServerCodec`), straight to NIO's HTTP/1 encoder, as NIO's
/// own types: what the codec would have made of them, without building
/// `HTTPFields` and an `HTTPResponse` first and converting them on the way
/// out (2 of a credits answer's 32.8 allocations; `scripts/bench/profile
/// allocations`). The encoder still sees the head, so it still frames the
/// answer (and pairs it with its request, which a `HEAD` needs); the
/// answer's `.end` goes the usual way, through the handlers that watch it
/// (``ConnectionDeadlineHandler``) and the codec.
///
/// Made by a handler after the codec when it is added to the pipeline, and
/// dropped when it is removed (it holds the codec's context).
public struct HeadShortcut {
    private let codec: ChannelHandlerContext

    /// Nil when the pipeline has no `HTTP1ToHTTPServerCodec` (the caller
    /// then writes `HTTPResponsePart`s as usual).
    public init?(_ pipeline: ChannelPipeline.SynchronousOperations) {
        guard let codec = try? pipeline.context(handlerType: HTTP1ToHTTPServerCodec.self) else { return nil }
        self.codec = codec
    }

    /// Writes the head (`Content-Type`, `Content-Length`, `Date`, in that
    /// order, as the codec would write them) and the body.
    public func write(status: HTTPResponse.Status, contentType: String, body: ByteBuffer, date: String) {
        let headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(body.readableBytes)), ("Date", date)])
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase), headers: headers)
        codec.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        codec.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
    }
}

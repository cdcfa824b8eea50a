import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NemoHTTPServer
import Testing

/// The server's HTTP/1 pipeline (NIO's parser and encoder, then the HTTPTypes
/// codec), on an embedded channel, with a request already read.
private func pipeline() throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
    try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
    return channel
}

private func send(_ channel: EmbeddedChannel, _ request: String) throws {
    try channel.writeInbound(ByteBuffer(string: request))
    while try channel.readInbound(as: HTTPRequestPart.self) != nil {}
}

/// Every byte the channel wrote, as text.
private func written(_ channel: EmbeddedChannel) throws -> String {
    var text = ""
    while let part = try channel.readOutbound(as: IOData.self) {
        guard case .byteBuffer(let buffer) = part else { continue }
        text += String(buffer: buffer)
    }
    return text
}

@Suite("Answers written past the HTTPTypes codec")
struct HeadShortcutTests {
    let answer = JSONAnswer(status: .notFound, code: 0, body: ByteBuffer(string: #"{"code":0,"data":{"available":100},"message":"success"}"#))
    let date = "Sat, 28 Nov 2026 06:34:07 GMT"

    @Test("The same bytes as the codec's path: the encoder still frames the answer")
    func sameBytes() throws {
        let viaCodec = try pipeline()
        try send(viaCodec, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        try viaCodec.writeOutbound(HTTPResponsePart.head(answer.head(date: date)))
        try viaCodec.writeOutbound(HTTPResponsePart.body(answer.body))
        try viaCodec.writeOutbound(HTTPResponsePart.end(nil))

        let direct = try pipeline()
        try send(direct, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let shortcut = try #require(HeadShortcut(direct.pipeline.syncOperations))
        shortcut.write(answer, date: date)
        try direct.writeOutbound(HTTPResponsePart.end(nil))

        let expected = try written(viaCodec)
        #expect(expected.hasPrefix(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(answer.body.readableBytes)\r\nDate: \(date)\r\n\r\n"))
        #expect(try written(direct) == expected)
        _ = try viaCodec.finish()
        _ = try direct.finish()
    }

    @Test("The encoder pairs each answer with its request: a HEAD after a shortcut answer gets no body")
    func pairsWithRequests() throws {
        let channel = try pipeline()
        try send(channel, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let shortcut = try #require(HeadShortcut(channel.pipeline.syncOperations))
        shortcut.write(answer, date: date)
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        // The HEAD's answer, the usual way: the encoder leaves its body out
        // only if the GET's answer took the GET's place in its queue.
        try channel.writeOutbound(HTTPResponsePart.head(answer.head(date: date)))
        _ = try? channel.writeOutbound(HTTPResponsePart.body(answer.body))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        let text = try written(channel)
        #expect(text.components(separatedBy: String(buffer: answer.body)).count == 2, "the body went out once (the GET's), not twice:\n\(text)")
        _ = try channel.finish()
    }

    @Test("Without the codec there is no shortcut")
    func absent() throws {
        let bare = EmbeddedChannel()
        #expect(HeadShortcut(bare.pipeline.syncOperations) == nil)
        _ = try bare.finish()
    }
}

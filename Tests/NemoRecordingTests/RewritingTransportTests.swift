import Foundation
import NemoClient
import NemoRecording
import Testing

/// Answers every request with one JSON body, or one event stream.
private struct FixedTransport: HTTPTransport {
    let contentType: String
    let body: String

    func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        ClientResponse(status: 200, headers: [("Content-Type", contentType)], body: Data(body.utf8))
    }

    func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        try Data(body.utf8).write(to: file)
        return ClientResponse(status: 200, headers: [("Content-Type", contentType)], body: Data())
    }

    func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        let (stream, continuation) = AsyncThrowingStream<HTTPStreamPart, any Error>.makeStream()
        continuation.yield(.head(status: 200, headers: [("Content-Type", contentType)]))
        // In two pieces, split inside the URL.
        let bytes = Data(body.utf8)
        continuation.yield(.body(bytes.prefix(bytes.count / 2)))
        continuation.yield(.body(bytes.suffix(from: bytes.count / 2)))
        continuation.finish()
        return stream
    }
}

private func collect(_ stream: AsyncThrowingStream<HTTPStreamPart, any Error>) async throws -> (parts: Int, body: String) {
    var parts = 0
    var body = Data()
    for try await part in stream {
        parts += 1
        if case .body(let data) = part { body += data }
    }
    return (parts, String(decoding: body, as: UTF8.self))
}

@Suite("The recording proxy's URL rewriting")
struct RewritingTransportTests {
    let json = #"{"data": {"outputUrl": "http://upstream:1/_nemosim/media/renders/r.mp4?sig=1", "other": "http://elsewhere/x"}}"#

    @Test("JSON answers have the upstream's base URL written as the proxy's, whole or streamed in pieces")
    func rewritesJSON() async throws {
        let transport = RewritingTransport(base: FixedTransport(contentType: "application/json", body: json), from: "http://upstream:1")
        transport.setTarget("http://proxy:2")
        let sent = try await transport.send(ClientRequest(method: "GET", url: "http://upstream:1/x"))
        let text = String(decoding: sent.body, as: UTF8.self)
        #expect(text.contains("http://proxy:2/_nemosim/media/renders/r.mp4?sig=1") && !text.contains("upstream:1") && text.contains("http://elsewhere/x"))
        let streamed = try await collect(transport.stream(ClientRequest(method: "GET", url: "http://upstream:1/x")))
        #expect(streamed.body == text && streamed.parts == 2, "a JSON body is rewritten whole, in one piece after the head")
    }

    @Test("Event streams pass through as they come, untouched; before the target is known nothing is rewritten")
    func leavesStreams() async throws {
        let events = "data: {\"url\": \"http://upstream:1/y\"}\n\n"
        let transport = RewritingTransport(base: FixedTransport(contentType: "text/event-stream", body: events), from: "http://upstream:1")
        transport.setTarget("http://proxy:2")
        let streamed = try await collect(transport.stream(ClientRequest(method: "POST", url: "http://upstream:1/run_sse")))
        #expect(streamed.body == events && streamed.parts == 3)
        let early = RewritingTransport(base: FixedTransport(contentType: "application/json", body: json), from: "http://upstream:1")
        let sent = try await early.send(ClientRequest(method: "GET", url: "http://upstream:1/x"))
        #expect(String(decoding: sent.body, as: UTF8.self) == json)
    }
}

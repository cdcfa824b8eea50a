// The credits answer as a constant, from a bare NIO channel handler
// (`--nio`) or a bare Hummingbird app (`--hummingbird`), on PORT.
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import NIOHTTP1

let body = #"{"code":0,"message":"success","data":{"available":100,"frozen":0,"total":100}}"#
let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "8099")!

final class Answer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

if CommandLine.arguments.contains("--nio") {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 256).serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(Answer()) }
        }
        .bind(host: "127.0.0.1", port: port).get()
    try await channel.closeFuture.get()
} else {
    let router = Router()
    router.get("/api/credits/balance/simple") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    try await app.runService()
}

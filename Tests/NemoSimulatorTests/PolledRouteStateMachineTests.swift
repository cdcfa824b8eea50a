import Foundation
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import NemoCore
import Testing

@testable import NemoSimulator

private struct Request: HeldRequest {
    let path: String
    let closes: Bool
    var asynchronous = false
}

private typealias Machine = PolledRouteStateMachine<Request>

/// The polled GETs this test answers: `/answer...` paths.
private func hold(_ head: HTTPRequest) -> Request? {
    guard let path = head.path, path.hasPrefix("/answer") || path.hasPrefix("/stream") else { return nil }
    return Request(path: path, closes: head.headerFields[.connection] == "close", asynchronous: path.hasPrefix("/stream"))
}

private func head(_ method: HTTPRequest.Method = .get, _ path: String, close: Bool = false) -> Machine.Inbound {
    var fields = HTTPFields()
    if close { fields[.connection] = "close" }
    return .part(.head(HTTPRequest(method: method, scheme: "http", authority: "x", path: path, headerFields: fields)))
}

private var end: Machine.Inbound { .part(.end(nil)) }

/// The actions, in words, for comparing.
private func describe(_ actions: Machine.Actions) -> [String] {
    actions.map { action in
        switch action {
        case .forward(.part(.head(let head))): return "forward head \(head.path ?? "")"
        case .forward(.part(.body)): return "forward body"
        case .forward(.part(.end)): return "forward end"
        case .forward(.error): return "forward error"
        case .forward(.event): return "forward event"
        case .forward(.inactive): return "forward inactive"
        case .forwardReadComplete: return "read complete"
        case .answerNow(let request): return "answer \(request.path)"
        case .answerLater(let request): return "answer later \(request.path)"
        case .abandon(let request): return "abandon \(request.path)"
        case .collect(let buffer): return "collect \(String(buffer: buffer))"
        }
    }
}

@Suite("The event loop's answers as a state machine")
struct PolledRouteStateMachineTests {
    @Test("An event stream is held with its body, answered over time even on the domain's loop, and what follows waits for its end")
    func streamHeldWithBody() {
        var machine = Machine()
        #expect(describe(machine.inbound(head(.post, "/stream"), local: true, hold: hold)).isEmpty)
        #expect(describe(machine.inbound(.part(.body(ByteBuffer(string: "{\"a\":"))), local: true, hold: hold)) == [#"collect {"a":"#])
        #expect(describe(machine.inbound(.part(.body(ByteBuffer(string: "1}"))), local: true, hold: hold)) == ["collect 1}"])
        #expect(describe(machine.inbound(end, local: true, hold: hold)) == ["answer later /stream"])
        #expect(machine.answering)
        // The next request waits for the stream's end, then is answered.
        #expect(describe(machine.inbound(head(.get, "/answer/2"), local: true, hold: hold)).isEmpty)
        #expect(describe(machine.inbound(end, local: true, hold: hold)).isEmpty)
        #expect(describe(machine.inbound(.inactive, local: true, hold: hold)).isEmpty)
        #expect(describe(machine.answerWritten(local: true, hold: hold)) == ["answer /answer/2", "read complete", "forward inactive"])
    }

    @Test("A polled GET is held from its head to its end, then answered; anything else goes on")
    func holdAndForward() {
        var machine = Machine()
        #expect(describe(machine.inbound(head(.get, "/answer/1"), local: true, hold: hold)).isEmpty)
        #expect(describe(machine.inbound(end, local: true, hold: hold)) == ["answer /answer/1"])
        #expect(describe(machine.inbound(head(.post, "/other"), local: true, hold: hold)) == ["forward head /other"])
        #expect(describe(machine.inbound(.part(.body(ByteBuffer(string: "x"))), local: true, hold: hold)) == ["forward body"])
        #expect(describe(machine.inbound(end, local: true, hold: hold)) == ["forward end"])
        #expect(describe(machine.readComplete()) == ["read complete"])
    }

    @Test("Behind a router response still pending, even a polled GET goes to the router, so answers keep their order")
    func order() {
        var machine = Machine()
        _ = machine.inbound(head(.post, "/other"), local: true, hold: hold)
        _ = machine.inbound(end, local: true, hold: hold)
        #expect(describe(machine.inbound(head(.get, "/answer/2"), local: true, hold: hold)) == ["forward head /answer/2"])
        #expect(describe(machine.inbound(end, local: true, hold: hold)) == ["forward end"])
        machine.routerResponseEnded()
        #expect(machine.routerResponsesPending == 1)
        machine.routerResponseEnded()
        _ = machine.inbound(head(.get, "/answer/3"), local: true, hold: hold)
        #expect(describe(machine.inbound(end, local: true, hold: hold)) == ["answer /answer/3"])
    }

    @Test("An answer made on another loop: what comes meanwhile waits, then is replayed in order")
    func answerElsewhere() {
        var machine = Machine()
        _ = machine.inbound(head(.get, "/answer/1"), local: false, hold: hold)
        #expect(describe(machine.inbound(end, local: false, hold: hold)) == ["answer later /answer/1"])
        #expect(machine.answering)
        // Meanwhile: another polled GET, a POST, an error; the read cycle's end is held back.
        for event in [head(.get, "/answer/2"), end, head(.post, "/other"), end, .error(ChannelError.eof)] {
            #expect(machine.inbound(event, local: false, hold: hold).isEmpty)
        }
        #expect(machine.readComplete().isEmpty)
        // Replayed up to the next answer made elsewhere ...
        #expect(describe(machine.answerWritten(local: false, hold: hold)) == ["answer later /answer/2", "read complete"])
        // ... then the rest, in order, with read-cycle ends around the error.
        #expect(describe(machine.answerWritten(local: false, hold: hold)) == ["forward head /other", "forward end", "read complete", "forward error"])
        #expect(!machine.answering)
    }

    @Test("After answering Connection: close, what follows is dropped; after passing one on, nothing more is held")
    func connectionClose() {
        var answered = Machine()
        _ = answered.inbound(head(.get, "/answer/1", close: true), local: true, hold: hold)
        #expect(describe(answered.inbound(end, local: true, hold: hold)) == ["answer /answer/1"])
        #expect(answered.closing)
        #expect(answered.inbound(head(.get, "/answer/2"), local: true, hold: hold).isEmpty)
        #expect(describe(answered.inbound(.inactive, local: true, hold: hold)) == ["forward inactive"])

        var passed = Machine()
        _ = passed.inbound(head(.post, "/other", close: true), local: true, hold: hold)
        _ = passed.inbound(end, local: true, hold: hold)
        passed.routerResponseEnded()
        #expect(describe(passed.inbound(head(.get, "/answer/3"), local: true, hold: hold)) == ["forward head /answer/3"])
    }

    @Test("A stream's request that goes to the router keeps the handler in the pipeline (it closes the connection when the server stops)")
    func routerStreamStays() {
        var machine = Machine()
        #expect(describe(machine.inbound(head(.post, "/run_sse"), local: true, hold: hold)) == ["forward head /run_sse"])
        #expect(!machine.holding)
    }

    @Test("A held request the connection ends in the middle of is abandoned (for the journal), then the end goes on")
    func abandonedMidBody() {
        var machine = Machine()
        #expect(describe(machine.inbound(head(.post, "/stream"), local: true, hold: hold)).isEmpty)
        #expect(machine.holding)
        #expect(describe(machine.inbound(.part(.body(ByteBuffer(string: "{"))), local: true, hold: hold)) == ["collect {"])
        #expect(describe(machine.inbound(.inactive, local: true, hold: hold)) == ["abandon /stream", "forward inactive"])
        #expect(!machine.holding)
        // An error in the middle of one: the same.
        var failed = Machine()
        _ = failed.inbound(head(.post, "/stream"), local: true, hold: hold)
        #expect(describe(failed.inbound(.error(ChannelError.eof), local: true, hold: hold)) == ["abandon /stream", "forward error"])
        // With nothing held, the end just goes on.
        var idle = Machine()
        #expect(describe(idle.inbound(.inactive, local: true, hold: hold)) == ["forward inactive"])
    }
}

@Suite("The event loop's answers in a channel")
struct PolledRouteHandlerChannelTests {
    /// A test channel with the handler, the domain on the channel's own loop.
    func channel() async throws -> (NIOAsyncTestingChannel, Simulation, PolledRouteHandler.Counter) {
        let loop = NIOAsyncTestingEventLoop()
        let simulation = Simulation(seed: 1, clock: ManualSimulationClock(), eventLoop: loop)
        let counter = PolledRouteHandler.Counter()
        let channel = try await NIOAsyncTestingChannel(loop: loop) { channel in
            try channel.pipeline.syncOperations.addHandler(PolledRouteHandler(simulation: simulation, counter: counter))
        }
        return (channel, simulation, counter)
    }

    func get(_ path: String, token: String? = nil, close: Bool = false) -> [HTTPRequestPart] {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        if close { fields[.connection] = "close" }
        return [.head(HTTPRequest(method: .get, scheme: "http", authority: "x", path: path, headerFields: fields)), .end(nil)]
    }

    func send(_ parts: [HTTPRequestPart], to channel: NIOAsyncTestingChannel) async throws {
        for part in parts { try await channel.writeInbound(part) }
    }

    /// The response parts written so far.
    func written(_ channel: NIOAsyncTestingChannel) async throws -> [HTTPResponsePart] {
        var parts: [HTTPResponsePart] = []
        while let part = try await channel.readOutbound(as: HTTPResponsePart.self) { parts.append(part) }
        return parts
    }

    /// The request heads that reached the next handler (the router).
    func forwarded(_ channel: NIOAsyncTestingChannel) async throws -> [String] {
        var paths: [String] = []
        while let part = try await channel.readInbound(as: HTTPRequestPart.self) {
            if case .head(let head) = part { paths.append(head.path ?? "") }
        }
        return paths
    }

    @Test("A polled GET is answered in the channel, with the router's headers and envelope, and journaled")
    func answered() async throws {
        let (channel, simulation, counter) = try await channel()
        try await send(get("/api/credits/balance/simple", token: "nope"), to: channel)
        let parts = try await written(channel)
        guard parts.count == 3, case .head(let head) = parts[0], case .body(let body) = parts[1], case .end = parts[2] else {
            Issue.record("not head, body, end: \(parts)")
            return
        }
        #expect(head.status == .ok && head.headerFields[.contentType] == "application/json; charset=utf-8")
        #expect(head.headerFields[.contentLength] == String(body.readableBytes) && head.headerFields[.date] != nil)
        #expect(try JSONValue.parse(Data(body.readableBytesView))["code"] == 1001)
        #expect(counter.value == 1)
        #expect(try await forwarded(channel).isEmpty, "nothing reached the router")
        let journal = simulation.journal.entries(clock: simulation.clock)
        #expect(journal.map(\.path) == ["/api/credits/balance/simple"] && journal.first?.code == 1001)
    }

    @Test("Other requests, and polled ones behind them, reach the router untouched")
    func forwardedBehind() async throws {
        let (channel, _, counter) = try await channel()
        let post: [HTTPRequestPart] = [
            .head(HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/api/auth/anonymous-token", headerFields: [:])), .end(nil),
        ]
        try await send(post + get("/api/credits/balance/simple"), to: channel)
        #expect(try await forwarded(channel) == ["/api/auth/anonymous-token", "/api/credits/balance/simple"])
        #expect(counter.value == 0)
        // Once the router's responses have ended, the loop answers again.
        try await channel.writeOutbound(HTTPResponsePart.end(nil))
        try await channel.writeOutbound(HTTPResponsePart.end(nil))
        _ = try await written(channel)
        try await send(get("/api/credits/balance/simple"), to: channel)
        #expect(counter.value == 1)
        #expect(try await forwarded(channel).isEmpty)
    }

    @Test("After answering Connection: close, nothing more is answered")
    func close() async throws {
        let (channel, _, counter) = try await channel()
        try await send(get("/api/credits/balance/simple", close: true), to: channel)
        #expect(try await written(channel).count == 3)
        try? await send(get("/api/credits/balance/simple"), to: channel)
        #expect(try await written(channel).isEmpty && counter.value == 1, "nothing answered after Connection: close")
    }
}

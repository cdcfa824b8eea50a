import Foundation
import NemoCore
import ServerSentEvents
import Testing

func agentEvents(fromStream data: Data) -> [AgentEvent] {
    var parser = ServerSentEventParser()
    let items = parser.feed(data)
    parser.finish()
    return items.flatMap(AgentEventDecoder.events(from:))
}

@Suite("Agent events in both dialects")
struct AgentEventTests {
    @Test("The vendor's type dialect, with comment, heartbeat event and empty data heartbeats")
    func typedDialect() throws {
        let events = agentEvents(fromStream: try fixture("events-typed.sse"))
        #expect(events.map(\.kind) == ["tool_call", "heartbeat", "heartbeat", "heartbeat", "tool_result", "text", "text"])
        #expect(events[0] == .toolCall(name: "generate_video", args: ["prompt": "city timelapse"]))
        #expect(events[4] == .toolResult(name: "generate_video", result: ["draft_updated": true]))
        #expect(events[5] == .text("Your video is ready. Click Export to download it."))
        #expect(events[6].isTemporaryIssueNotice)
        #expect(!events[5].isTemporaryIssueNotice)
    }

    @Test("The ADK content.parts dialect, several parts and an error")
    func adkDialect() throws {
        let events = agentEvents(fromStream: try fixture("events-adk.sse"))
        #expect(events == [
            .toolCall(name: "generate_video", args: ["prompt": "city timelapse"]),
            .toolResult(name: "generate_video", result: ["draft_updated": true]),
            .text("Your video is ready."),
            .text(" Drag the clip to reorder."),
            .error(message: "quota", code: "RESOURCE_EXHAUSTED"),
        ])
    }

    @Test("Unknown shapes are kept, not dropped, and never crash")
    func unknownKept() {
        #expect(AgentEventDecoder.events(fromData: "not json") == [.unknown("not json")])
        #expect(AgentEventDecoder.events(fromData: #"{"type":"done"}"#) == [.unknown(#"{"type":"done"}"#)])
        #expect(AgentEventDecoder.events(fromData: "[1,2]") == [.unknown("[1,2]")])
        #expect(AgentEventDecoder.events(fromData: #"{"foo":1}"#) == [.unknown(#"{"foo":1}"#)])
        #expect(AgentEventDecoder.events(fromData: #"{"content":{"parts":[]}}"#) == [.unknown(#"{"content":{"parts":[]}}"#)])
        #expect(AgentEventDecoder.events(fromData: "  ") == [.heartbeat])
    }

    @Test("Tolerant reads: aliases, extra fields, missing args")
    func tolerant() {
        #expect(AgentEventDecoder.events(fromData: #"{"type":"text","text":"hi","extra":[1]}"#) == [.text("hi")])
        #expect(AgentEventDecoder.events(fromData: #"{"type":"tool_call","name":"t"}"#) == [.toolCall(name: "t", args: [:])])
        #expect(AgentEventDecoder.events(fromData: #"{"type":"error","message":"boom","code":500}"#) == [.error(message: "boom", code: "500")])
        #expect(AgentEventDecoder.events(fromData: #"{"type":"HEARTBEAT"}"#) == [.heartbeat])
    }

    @Test("Encoder output decodes back to the same event, in both dialects", arguments: SSEDialect.allCases)
    func roundTrip(dialect: SSEDialect) {
        let samples: [AgentEvent] = [
            .text("Hello — ünïcødé\nsecond line"),
            .toolCall(name: "edit_video", args: ["op": "trim", "seconds": 5]),
            .toolResult(name: "edit_video", result: ["ok": true, "draft": ["t": []]]),
            .heartbeat,
            .error(message: "temporary", code: "E1"),
        ]
        var stream = ""
        for (index, event) in samples.enumerated() {
            let data = AgentEventEncoder.data(
                for: event, dialect: dialect, context: .init(invocationID: "inv", eventID: "\(index)", timestamp: 1_732_790_000))
            stream += ServerSentEventEncoder.encode(data: data, id: "\(index)")
        }
        #expect(agentEvents(fromStream: Data(stream.utf8)) == samples)
    }
}

@Suite("Error codes, headers, endpoints")
struct ErrorCodeTests {
    @Test("Every documented code has a meaning, a reaction and an HTTP status")
    func documentedCodes() {
        let expected: [Int: (ClientReaction, Int)] = [
            0: (.proceed, 200), 1001: (.renewToken, 401), 1002: (.createSession, 404), 2001: (.registerOrTopUp, 403),
            4001: (.showAcceptedFormats, 415), 4002: (.compressOrTrim, 413),
        ]
        #expect(ErrorCode.documented.count == expected.count)
        for code in ErrorCode.documented {
            #expect(code.reaction == expected[code.rawValue]?.0)
            #expect(code.httpStatus == expected[code.rawValue]?.1)
            #expect(!code.meaning.hasPrefix("undocumented"))
        }
        #expect(ErrorCode(9999).reaction == nil)
        #expect(ErrorCode(9999).meaning.hasPrefix("undocumented"))
        #expect(DocumentedHTTPError(rawValue: 429)?.reaction == .waitAndRetryOnce)
        #expect(DocumentedHTTPError(rawValue: 402)?.reaction == .registerOrUpgrade)
        #expect(DocumentedHTTPError.allCases.map(\.rawValue) == [400, 402, 403, 429])
    }

    @Test("Missing attribution headers are found case-insensitively")
    func attribution() {
        #expect(AttributionHeaders.missing(in: []) == AttributionHeaders.names)
        let some = [("x-skill-source", "s"), ("X-SKILL-VERSION", ""), ("Other", "x")].map { (name: $0.0, value: $0.1) }
        #expect(AttributionHeaders.missing(in: some) == ["X-Skill-Version", "X-Skill-Platform"])
        let all = AttributionHeaders(source: "s", version: "1.0.0", platform: "cursor").pairs
        #expect(AttributionHeaders.missing(in: all).isEmpty)
    }

    @Test("Endpoint paths, methods, scopes and segment encoding")
    func endpoints() {
        #expect(Endpoint.anonymousToken.path == "/api/auth/anonymous-token")
        #expect(Endpoint.createSession().path == "/api/tasks/me/with-session/nemo_agent")
        #expect(Endpoint.state(sessionID: "55").path == "/api/state/nemo_agent/me/55/latest")
        #expect(Endpoint.upload(sessionID: "55").path == "/api/upload-video/nemo_agent/me/55")
        #expect(Endpoint.renderStatus(id: "render_1").path == "/api/render/proxy/lambda/render_1")
        #expect(Endpoint.renderCancel(id: "r").path == "/api/render/proxy/lambda/r/cancel")
        #expect(Endpoint.renderDownload(id: "r").path == "/api/render/proxy/r/download")
        #expect(Endpoint.credits.method == "GET" && Endpoint.runSSE.method == "POST")
        #expect(Route.encode("a/b c") == "a%2Fb%20c")
        #expect(TokenScope.read.isGranted(by: [.all]))
        #expect(!TokenScope.render.isGranted(by: [.read, .write]))
    }

    @Test("Media kinds by extension, 4001 otherwise")
    func mediaKinds() {
        #expect(MediaKind(fileName: "a.MP4") == .video)
        #expect(MediaKind(fileName: "photo.jpeg") == .image)
        #expect(MediaKind(fileName: "https://x.example/song.mp3?sig=1") == .audio)
        #expect(MediaKind(fileName: "notes.txt") == nil)
        #expect(MediaKind(fileName: "noextension") == nil)
        #expect(MediaKind(fileName: "dir.mp4/file") == nil)
    }
}

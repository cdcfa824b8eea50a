import Foundation
import NemoCore
import ServerSentEvents
import Testing

/// The repository's `Fixtures/` folder.
let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

func fixture(_ name: String) throws -> Data {
    try Data(contentsOf: fixturesDirectory.appendingPathComponent("api").appendingPathComponent(name))
}

func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
    try JSONDecoder().decode(T.self, from: fixture(name))
}

@Suite("API.md examples decode")
struct FixtureDecodingTests {
    @Test("Every JSON fixture is valid JSON")
    func allFixturesAreJSON() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: fixturesDirectory.appendingPathComponent("api").path)
            .filter { $0.hasSuffix(".json") }
        #expect(names.count >= 15)
        for name in names {
            #expect(throws: Never.self, "\(name)") { _ = try JSONValue.parse(fixture(name)) }
        }
    }

    @Test("Anonymous token")
    func anonymousToken() throws {
        let envelope = try decode(Envelope<AnonymousToken>.self, "anonymous-token.json")
        #expect(envelope.isSuccess)
        let token = try #require(envelope.data)
        #expect(token.token.hasPrefix(userTokenPrefix))
        #expect(token.userID == "anon_abc123")
        #expect(token.credits == 100)
        #expect(token.expiryDate != nil)
    }

    @Test("Session creation, string and numeric session ids, unknown fields ignored")
    func session() throws {
        let a = try #require(try decode(Envelope<SessionInfo>.self, "create-session.json").data)
        #expect(a.sessionID == "5529798706024415232")
        #expect(a.taskID == "task_8f2c1a")
        let b = try #require(try decode(Envelope<SessionInfo>.self, "create-session-numeric-id.json").data)
        #expect(b.sessionID == "5529798706024415")
    }

    @Test("A claim token makes the web app link; the user token never appears in it")
    func claimLink() throws {
        let claim = try JSONDecoder().decode(ClaimToken.self, from: Data(#"{"claim_token":"clm_a+b/c","expires_in":"604800"}"#.utf8))
        #expect(claim.expiresIn == 604_800)
        #expect(claim.link() == "https://nemovideo.com/workspace/claim?ct=clm_a%2Bb%2Fc")
        #expect(claim.link(webAppURL: "http://127.0.0.1:9") == "http://127.0.0.1:9/workspace/claim?ct=clm_a%2Bb%2Fc")
    }

    @Test("State with a three-track draft and its summary line")
    func state() throws {
        let state = try #require(try decode(Envelope<StateResponse>.self, "state.json").data).state
        let draft = try #require(state.draft)
        #expect(draft.tracks.map(\.type) == [.video, .audio, .text])
        #expect(draft.isReadyForExport)
        #expect(draft.summary == "Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: \"Urban Dreams\" (0-3s)")
        #expect(state.videoInfos.count == 1)
        #expect(state.canvasConfig?["width"] == 1920)
        #expect(draft.metadata["title"] == "Urban Dreams")
    }

    @Test("An empty draft is not ready for export")
    func emptyState() throws {
        let state = try #require(try decode(Envelope<StateResponse>.self, "state-empty.json").data).state
        #expect(state.draft?.isReadyForExport == false)
        #expect(state.draft?.summary == "Timeline (0 tracks): empty")
        let trackWithoutSegments = Draft(tracks: [Track(type: .video, segments: [])])
        #expect(!trackWithoutSegments.isReadyForExport)
    }

    @Test("Upload response with nulls")
    func upload() throws {
        let result = try #require(try decode(Envelope<UploadResult>.self, "upload.json").data)
        #expect(result.sessionStateApplied)
        #expect(result.files.map(\.fileType) == ["video", "image"])
        #expect(result.files[0].fps == 30)
        #expect(result.files[1].duration == nil)
        #expect(result.files[1].width == 512)
    }

    @Test("Credits")
    func credits() throws {
        let balance = try #require(try decode(Envelope<CreditBalance>.self, "credits.json").data)
        #expect(balance == CreditBalance(available: 100, frozen: 0, total: 100))
    }

    @Test("Render submit and both status shapes")
    func render() throws {
        let submitted = try decode(RenderJob.self, "render-submit.json")
        #expect(submitted.status == .pending)
        #expect(submitted.progress == 5)
        #expect(submitted.id == "render_1732790000")

        let vendor = try decode(RenderJob.self, "render-status-vendor.json")
        #expect(vendor.status == .completed)
        #expect(vendor.outputURL?.hasPrefix("https://storage.example/renders/") == true)
        #expect(vendor.completedAt == 1_732_790_061_000)

        let skill = try decode(RenderJob.self, "render-status-skill.json")
        #expect(skill.status == .completed)
        #expect(skill.outputURL == "https://storage.example/renders/render_1732790000.mp4")

        let processing = try decode(RenderJob.self, "render-status-processing.json")
        #expect(processing.status == .processing)
        #expect(processing.status.isFinal == false)
    }

    @Test("Error envelopes: every documented code, numeric-string code, msg alias, informative data")
    func errors() throws {
        for (name, code) in [("error-1001.json", 1001), ("error-1002.json", 1002), ("error-2001.json", 2001), ("error-4001.json", 4001), ("error-4002.json", 4002)] {
            let envelope = try decode(Envelope<CreditBalance>.self, name)
            #expect(envelope.code.rawValue == code, "\(name)")
            #expect(!envelope.isSuccess)
            #expect(envelope.code.isDocumented)
            #expect(envelope.code.reaction != nil)
        }
        #expect(try decode(Envelope<JSONValue>.self, "error-4002.json").message == "file too large")
    }

    @Test("Request bodies decode and encode with the documented field names")
    func requests() throws {
        let session = try decode(CreateSessionRequest.self, "request-create-session.json")
        #expect(session == CreateSessionRequest(taskName: "project", language: ""))
        let run = try decode(RunSSERequest.self, "request-run-sse.json")
        #expect(run.sessionID == "5529798706024415232")
        #expect(run.newMessage.text.hasPrefix("turn these product images"))
        let urls = try decode(URLUploadRequest.self, "request-upload-urls.json")
        #expect(urls.urls == ["https://example.com/clip.mp4"] && urls.sourceType == "url")
        let render = try decode(RenderRequest.self, "request-render.json")
        #expect(render.sessionID == "5529798706024415232")
        #expect(render.draft.isReadyForExport)

        let encoded = try JSONValue(encoding: render)
        #expect(encoded["sessionId"] == "5529798706024415232")
        #expect(encoded["session_id"] == nil)
        let encodedRun = try JSONValue(encoding: RunSSERequest(text: "hi", sessionID: "1"))
        #expect(encodedRun["app_name"] == "nemo_agent")
        #expect(encodedRun["new_message"]?["parts"]?[0]?["text"] == "hi")
    }

    @Test("A draft round-trips unchanged, unknown keys included")
    func draftRoundTrip() throws {
        let text = #"{"t":[{"tt":0,"sg":[{"id":"v1","s":0,"d":5000,"m":{"name":"a"},"fx":{"blur":2}}],"lock":true}],"d":5000,"m":{"title":"T"},"version":3}"#
        let draft = try JSONDecoder().decode(Draft.self, from: Data(text.utf8))
        #expect(draft.extras["version"] == 3)
        #expect(draft.tracks[0].extras["lock"] == true)
        #expect(draft.tracks[0].segments[0].extras["fx"] == ["blur": 2])
        #expect(try JSONValue(encoding: draft) == JSONValue.parse(text))
    }
}

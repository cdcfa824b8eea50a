import Foundation
import NemoCore
import ServerSentEvents
import Testing

@testable import NemoSimulator

let skillHeaders = ["X-Skill-Source": "nemosim-tests", "X-Skill-Version": "1.0.0", "X-Skill-Platform": "unknown"]

/// A running simulator on port 0 and a signed-in client.
struct LiveSession {
    let server: SimulatorServer
    let token: String
    let user: String
    let session: String
    var url: String { server.url }

    static func start(
        timeScale: Double = 1000, seed: UInt64 = 3, limits: ConnectionLimits = ConnectionLimits(), _ configure: (inout BehaviourProfile) -> Void = { _ in }
    ) async throws -> LiveSession {
        var profile = BehaviourProfile()
        configure(&profile)
        let server = try await SimulatorServer.start(.init(seed: seed, timeScale: timeScale, profile: profile, limits: limits))
        let issued = await CurlTestClient.request("POST", server.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": UUID().uuidString])
        let token = try #require(issued.data?["token"]?.stringValue)
        let user = try #require(issued.data?["user_id"]?.stringValue)
        let created = await CurlTestClient.json(
            "POST", server.url + "/api/tasks/me/with-session/nemo_agent", token: token, headers: skillHeaders, ["task_name": "project", "language": "en"])
        let session = try #require(created.data?["session_id"]?.stringValue)
        return LiveSession(server: server, token: token, user: user, session: session)
    }

    var auth: [String: String] { skillHeaders.merging(["Authorization": "Bearer \(token)"]) { a, _ in a } }

    func get(_ path: String, headers: [String: String] = [:]) async -> TestResponse {
        await CurlTestClient.request("GET", url + path, headers: auth.merging(headers) { _, b in b })
    }

    func post(_ path: String, _ body: JSONValue?, headers: [String: String] = [:]) async -> TestResponse {
        await CurlTestClient.json("POST", url + path, token: token, headers: skillHeaders.merging(headers) { _, b in b }, body)
    }

    func send(_ text: String, headers: [String: String] = [:]) async -> TestResponse {
        await post("/run_sse", ["app_name": "nemo_agent", "user_id": "me", "session_id": .string(session), "new_message": ["parts": [["text": .string(text)]]]],
            headers: headers.merging(["Accept": "text/event-stream"]) { a, _ in a })
    }

    func admin(_ method: String, _ path: String, _ body: JSONValue? = nil) async -> TestResponse {
        await CurlTestClient.json(method, url + "/_nemosim" + path, body)
    }
}

/// What needs a real socket; everything else is in RouterFrontTests.
@Suite("HTTP front over real sockets")
struct HTTPFrontTests {
    @Test("A port already in use is a start failure that says where and why")
    func portInUse() async throws {
        let first = try await SimulatorServer.start()
        do {
            _ = try await SimulatorServer.start(.init(port: first.port))
            Issue.record("a second simulator started on port \(first.port)")
        } catch let error as SimulatorServerError {
            #expect("\(error)".hasPrefix("could not start the simulator on 127.0.0.1:\(first.port): "), "\(error)")
            #expect("\(error)".localizedCaseInsensitiveContains("in use"), "\(error)")
        }
        // The first one still serves.
        #expect(await CurlTestClient.request("GET", first.url + "/_nemosim/health").status == 200)
        await first.stop()
    }

    @Test("A whole session: token, session, uploads, message stream, state, credits, render, poll, both downloads")
    func wholeSession() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.silentGenerationRatio = 0
        }
        // Multipart upload of two files, one a PNG whose size the server reads.
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 2, 0x80, 0, 0, 1, 0xE0]
        png += [UInt8](repeating: 7, count: 5000)
        let clip = Data((0..<300_000).map { UInt8($0 % 251) })
        let upload = await CurlTestClient.request(
            "POST", live.url + "/api/upload-video/nemo_agent/me/\(live.session)", headers: live.auth,
            multipart: [
                .data(name: "files", filename: "logo.png", bytes: Data(png), contentType: "image/png"),
                .data(name: "files", filename: "../../etc/clip.mp4", bytes: clip, contentType: "video/mp4"),
            ])
        #expect(upload.status == 200 && upload.code == 0)
        let files = try #require(upload.data?["files"]?.arrayValue)
        #expect(files.count == 2)
        #expect(files[0]["width"] == 640 && files[0]["height"] == 480 && files[0]["file_type"] == "image")
        #expect(files[1]["filename"] == "../../etc/clip.mp4")  // names are data, never paths
        #expect(files[1]["hash"]?.stringValue == SHA256Hex.of(clip))
        #expect(files[1]["size"]?.intValue == clip.count)
        #expect(upload.data?["session_state_applied"] == true)

        let stream = await live.send("make a promo video")
        #expect(stream.status == 200)
        #expect(stream.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let kinds = stream.agentEvents.map(\.kind)
        #expect(kinds.first == "tool_call")
        #expect(kinds.contains("heartbeat") && kinds.contains("tool_result") && kinds.contains("text"))
        #expect(stream.sseEvents.allSatisfy { $0.lastEventID.isEmpty }, "strict: data lines only")
        #expect(stream.chunks.count > 3, "events arrive over time, not in one piece")

        var state = await live.get("/api/state/nemo_agent/me/\(live.session)/latest")
        #expect(state.code == 0)
        #expect(state.data?["state"]?["video_infos"]?.arrayValue?.count == 2)
        try await live.server.simulation.advanceClock(by: 120)
        state = await live.get("/api/state/nemo_agent/\(live.user)/\(live.session)/latest")
        let draft = try #require(state.data?["state"]?["draft"]).decode(Draft.self)
        #expect(draft.tracks.map(\.type) == [.video, .audio, .text])

        let credits = await live.get("/api/credits/balance/simple")
        #expect(credits.data == ["available": 0, "frozen": 0, "total": 0])

        let draftJSON = try #require(state.data?["state"]?["draft"])
        let submitted = await live.post("/api/render/proxy/lambda", ["id": "render_e2e", "sessionId": .string(live.session), "draft": draftJSON])
        #expect(submitted.json["success"] == true && submitted.json["data"]?["status"] == "pending")
        try await live.server.simulation.advanceClock(by: 100)
        let polled = await live.get("/api/render/proxy/lambda/render_e2e")
        // Strict: the reference shape, inside data only.
        #expect(polled.json["data"]?["status"] == "completed" && polled.json["status"] == nil && polled.json["output"] == nil)
        let outputURL = try #require(polled.json["data"]?["outputUrl"]?.stringValue)

        let signed = await CurlTestClient.request("GET", outputURL)
        #expect(signed.status == 200 && signed.headers["content-type"] == "video/mp4")
        #expect(signed.body.count > 10_000 && signed.body[4..<8] == Data("ftyp".utf8))
        let fallback = await live.get("/api/render/proxy/render_e2e/download")
        #expect(fallback.status == 200 && fallback.body == signed.body)
        await live.server.stop()
    }
}

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

    static func start(timeScale: Double = 1000, seed: UInt64 = 3, _ configure: (inout BehaviourProfile) -> Void = { _ in }) async throws -> LiveSession {
        var profile = BehaviourProfile()
        configure(&profile)
        let server = try await SimulatorServer.start(.init(seed: seed, timeScale: timeScale, profile: profile))
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
        let live = try await LiveSession.start { $0.silentCloseRatio = 0 }
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
        #expect(stream.sseEvents.allSatisfy { !$0.lastEventID.isEmpty })
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
        #expect(polled.json["data"]?["status"] == "completed" && polled.json["status"] == "completed")
        let outputURL = try #require(polled.json["data"]?["outputUrl"]?.stringValue)
        #expect(polled.json["output"]?["url"]?.stringValue == outputURL)

        let signed = await CurlTestClient.request("GET", outputURL)
        #expect(signed.status == 200 && signed.headers["content-type"] == "video/mp4")
        #expect(signed.body.count > 10_000 && signed.body[4..<8] == Data("ftyp".utf8))
        let fallback = await live.get("/api/render/proxy/render_e2e/download")
        #expect(fallback.status == 200 && fallback.body == signed.body)
        await live.server.stop()
    }

    @Test("Event streams pace events by simulated time and close with no done event")
    func pacing() async throws {
        // 1000x: a 10-30 s edit streams over 10-30 ms of real time.
        let live = try await LiveSession.start(timeScale: 100) {
            $0.replyDurationSeconds = SecondsRange(5, 5)
            $0.heartbeatIntervalSeconds = 1
            $0.temporaryIssueRatio = 0
        }
        let stream = await live.send("hello there")
        #expect(stream.agentEvents.map(\.kind) == ["heartbeat", "heartbeat", "heartbeat", "heartbeat", "text"])
        let last = try #require(stream.chunks.last).time
        #expect(last >= 0.045, "5 simulated seconds at 100x take at least 50 ms, took \(last)")
        #expect(!stream.text.contains("done"))
        await live.server.stop()
    }

    @Test("Last-Event-ID on a reconnect resumes after that event")
    func resumeOverHTTP() async throws {
        let live = try await LiveSession.start(timeScale: 10_000)
        let first = await live.send("make a video", headers: ["X-Nemosim-Fault": #"{"drop_after_events": 3}"#])
        #expect(first.curlCode != 0, "a dropped stream is an error for the client")
        let seen = first.sseEvents
        #expect(seen.count == 3)
        let last = try #require(seen.last)
        let resumed = await live.send("make a video", headers: ["Last-Event-ID": last.lastEventID])
        #expect(resumed.curlCode == 0)
        let ids = resumed.sseEvents.map(\.lastEventID)
        #expect(ids.first == "1-4")
        #expect(resumed.agentEvents.last?.kind == "text" || resumed.agentEvents.last?.kind == "tool_result" || resumed.agentEvents.last?.isTemporaryIssueNotice == true)
        // Resuming charged nothing more.
        #expect(await live.get("/api/credits/balance/simple").data?["available"] == 0)
        await live.server.stop()
    }

    @Test("2001 comes as a JSON envelope before any stream")
    func outOfCreditsEnvelope() async throws {
        let live = try await LiveSession.start()
        _ = await live.admin("PUT", "/accounts/\(live.user)/credits", ["available": 10])
        let response = await live.send("make a video")
        #expect(response.status == 200 && response.code == 2001)
        #expect(response.headers["content-type"]?.hasPrefix("application/json") == true)
        #expect(response.json["message"]?.stringValue?.contains("bind=\(live.user)") == true)
        await live.server.stop()
    }

    @Test("Error status mode http puts each code's status on the wire, with the code in the body")
    func httpErrorMode() async throws {
        let live = try await LiveSession.start()
        let patched = await live.admin("PATCH", "/profile", ["error_status_mode": "http"])
        #expect(patched.status == 200 && patched.json["error_status_mode"] == "http")
        let bad = await CurlTestClient.request("GET", live.url + "/api/credits/balance/simple", headers: ["Authorization": "Bearer nope"])
        #expect(bad.status == 401 && bad.code == 1001)
        let missing = await live.get("/api/state/nemo_agent/me/42/latest")
        #expect(missing.status == 404 && missing.code == 1002)
        _ = await live.admin("PATCH", "/profile", ["error_status_mode": "envelope"])
        let envelope = await CurlTestClient.request("GET", live.url + "/api/credits/balance/simple", headers: ["Authorization": "Bearer nope"])
        #expect(envelope.status == 200 && envelope.code == 1001)
        let noClient = await CurlTestClient.request("POST", live.url + "/api/auth/anonymous-token")
        #expect(noClient.status == 400)
        await live.server.stop()
    }

    @Test("Render without attribution headers is 402; upload type and size errors are 4001 and 4002")
    func documentedErrors() async throws {
        let live = try await LiveSession.start { $0.maxUploadBytes = 1000 }
        let noHeaders = await CurlTestClient.json(
            "POST", live.url + "/api/render/proxy/lambda", token: live.token,
            ["id": "r1", "sessionId": .string(live.session), "draft": ["t": [["tt": 0, "sg": [["s": 0, "d": 1000]]]]]])
        #expect(noHeaders.status == 402 && noHeaders.json["success"] == false)
        let empty = await live.post("/api/render/proxy/lambda", ["id": "r2", "sessionId": .string(live.session), "draft": ["t": []]])
        #expect(empty.status == 400 && empty.json["message"]?.stringValue?.contains("draft is empty") == true)
        let text = await CurlTestClient.request(
            "POST", live.url + "/api/upload-video/nemo_agent/me/\(live.session)", headers: live.auth,
            multipart: [.data(name: "files", filename: "notes.txt", bytes: Data("hi".utf8), contentType: "text/plain")])
        #expect(text.code == 4001)
        let big = await CurlTestClient.request(
            "POST", live.url + "/api/upload-video/nemo_agent/me/\(live.session)", headers: live.auth,
            multipart: [.data(name: "files", filename: "big.mp4", bytes: Data(count: 5000), contentType: "video/mp4")])
        #expect(big.code == 4002)
        // One header empty, one absent: both count as missing; all present: none.
        _ = await CurlTestClient.request(
            "GET", live.url + "/api/credits/balance/simple?partial",
            headers: ["Authorization": "Bearer \(live.token)", "X-Skill-Source": "s", "X-Skill-Version": ""])
        _ = await live.get("/api/credits/balance/simple?complete")
        // The journal records the missing attribution headers, and no token.
        let journal = await live.admin("GET", "/journal")
        let entries = try #require(journal.json.arrayValue)
        #expect(entries.contains { $0["path"] == "/api/render/proxy/lambda" && $0["status"] == 402 && $0["missing_attribution"]?.arrayValue?.count == 3 })
        let credits = entries.filter { $0["path"] == "/api/credits/balance/simple" }
        #expect(credits.count == 2)
        #expect(credits.first?["missing_attribution"] == ["X-Skill-Version", "X-Skill-Platform"], "\(credits)")
        #expect(credits.last?["missing_attribution"] == [] || credits.last?["missing_attribution"] == nil, "\(credits)")
        #expect(entries.contains { $0["code"] == 4001 })
        #expect(!journal.text.contains(live.token))
        await live.server.stop()
    }

    @Test("Faults: armed code, HTTP status, delay, disconnect, stall, and the per-request header")
    func faults() async throws {
        let live = try await LiveSession.start(timeScale: 1000)
        let armed = await live.admin("POST", "/faults", ["match": ["method": "GET", "path": "/api/credits/balance/simple"], "respond": ["code": 1001], "times": 2])
        #expect(armed.status == 201)
        #expect(await live.admin("GET", "/faults").json.arrayValue?.count == 1)
        #expect(await live.get("/api/credits/balance/simple").code == 1001)
        #expect(await live.get("/api/credits/balance/simple").code == 1001)
        #expect(await live.get("/api/credits/balance/simple").code == 0)
        #expect(await live.admin("GET", "/faults").json.arrayValue?.isEmpty == true)

        _ = await live.admin("POST", "/faults", ["match": ["path": "/api/credits/*"], "respond": ["http_status": 429]])
        let limited = await live.get("/api/credits/balance/simple")
        #expect(limited.status == 429)

        let delayed = await live.get("/api/credits/balance/simple", headers: ["X-Nemosim-Fault": #"{"delay_seconds": 100}"#])
        #expect(delayed.code == 0 && (delayed.chunks.first?.time ?? 0) >= 0.09)

        let cut = await live.get("/api/credits/balance/simple", headers: ["X-Nemosim-Fault": #"{"disconnect": true}"#])
        #expect(cut.curlCode != 0 && cut.status == 0)

        let stalled = await live.send("make a video", headers: ["X-Nemosim-Fault": #"{"stall_seconds": 120}"#])
        #expect(!stalled.agentEvents.isEmpty && stalled.agentEvents.allSatisfy { $0 == .heartbeat })
        #expect(stalled.agentEvents.count == 8)

        let badFault = await live.get("/api/credits/balance/simple", headers: ["X-Nemosim-Fault": #"{"explode": true}"#])
        #expect(badFault.status == 400 && badFault.text.contains("X-Nemosim-Fault"))
        let forever = await live.get("/api/credits/balance/simple", headers: ["X-Nemosim-Fault": #"{"delay_seconds": 1e300}"#])
        #expect(forever.status == 400 && forever.text.contains("86400"))
        let badArm = await live.admin("POST", "/faults", ["respond": ["code": 1234]])
        #expect(badArm.status == 400 && badArm.text.contains("1001"))
        _ = await live.admin("DELETE", "/faults")
        #expect(await live.get("/api/credits/balance/simple").code == 0)
        await live.server.stop()
    }

    @Test("Admin API: health, clock advance expires tokens, profile errors name the key, revoke, reset, journal")
    func admin() async throws {
        let live = try await LiveSession.start(timeScale: 1000, seed: 99)
        let health = await live.admin("GET", "/health")
        #expect(health.json["status"] == "ok" && health.json["seed"] == 99 && health.json["time_scale"] == 1000)
        let before = try #require(ISO8601.date(from: await live.admin("GET", "/clock").json["now"]?.stringValue ?? ""))
        let advanced = await live.admin("POST", "/clock/advance", ["seconds": 691_200])
        let after = try #require(ISO8601.date(from: advanced.json["now"]?.stringValue ?? ""))
        #expect(after.timeIntervalSince(before) >= 8 * 86400)
        #expect(await live.get("/api/credits/balance/simple").code == 1001)
        #expect(await live.get("/api/state/nemo_agent/me/\(live.session)/latest").code == 1001)

        let badKey = await live.admin("PATCH", "/profile", ["heartbeat_every": 3])
        #expect(badKey.status == 400 && badKey.text.contains("heartbeat_every"))
        let badValue = await live.admin("PATCH", "/profile", ["silent_close_ratio": "often"])
        #expect(badValue.status == 400 && badValue.text.contains("silent_close_ratio"))
        let badAdvance = await live.admin("POST", "/clock/advance", ["seconds": "soon"])
        #expect(badAdvance.status == 400)

        let issued = await CurlTestClient.request("POST", live.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": "admin-test"])
        let token = try #require(issued.data?["token"]?.stringValue)
        #expect(await CurlTestClient.request("GET", live.url + "/api/credits/balance/simple", headers: ["Authorization": "Bearer \(token)"]).code == 0)
        #expect(await live.admin("POST", "/tokens/revoke", ["token": .string(token)]).status == 200)
        #expect(await CurlTestClient.request("GET", live.url + "/api/credits/balance/simple", headers: ["Authorization": "Bearer \(token)"]).code == 1001)

        #expect(await live.admin("GET", "/journal").json.arrayValue?.isEmpty == false)
        #expect(await live.admin("DELETE", "/journal").status == 200)
        #expect(await live.admin("GET", "/journal").json.arrayValue?.isEmpty == true)
        #expect(await live.admin("POST", "/reset").status == 200)
        #expect(await CurlTestClient.request("GET", live.url + "/api/credits/balance/simple", headers: ["Authorization": "Bearer \(token)"]).code == 1001)
        await live.server.stop()
    }

    @Test("Scopes (403) and token issuance limits (429) over HTTP")
    func scopesAndLimits() async throws {
        let live = try await LiveSession.start { $0.tokensPerIPPerHour = 2 }
        #expect(await live.admin("POST", "/tokens/scopes", ["token": .string(live.token), "scopes": ["read"]]).status == 200)
        #expect(await live.get("/api/credits/balance/simple").code == 0)
        let denied = await live.send("make a video")
        #expect(denied.status == 403 && denied.json["message"]?.stringValue?.contains("write") == true)
        // LiveSession.start issued one account from 127.0.0.1; one more is allowed, then 429.
        #expect(await CurlTestClient.request("POST", live.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": "second"]).status == 200)
        let limited = await CurlTestClient.request("POST", live.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": "third"])
        #expect(limited.status == 429)
        // A known client may still renew its token (the documented 1001 recovery).
        #expect(await CurlTestClient.request("POST", live.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": "second"]).status == 200)
        await live.server.stop()
    }

    @Test("With --admin-token the admin API needs it as a bearer token")
    func adminToken() async throws {
        let server = try await SimulatorServer.start(.init(adminToken: "s3cret"))
        #expect(await CurlTestClient.request("GET", server.url + "/_nemosim/health").status == 401)
        #expect(await CurlTestClient.request("GET", server.url + "/_nemosim/health", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(await CurlTestClient.request("GET", server.url + "/_nemosim/health", headers: ["Authorization": "Bearer s3cret"]).status == 200)
        // Repeated slashes reach the same routes, so the guard covers them too.
        #expect(await CurlTestClient.request("POST", server.url + "//_nemosim/reset").status == 401)
        #expect(await CurlTestClient.request("GET", server.url + "/_nemosim//profile").status == 401)
        await server.stop()
    }
}

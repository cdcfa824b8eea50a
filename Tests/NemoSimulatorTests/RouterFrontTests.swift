import Foundation
import NemoCore
import ServerSentEvents
import Testing

@testable import NemoSimulator

/// The HTTP front through the router, with no socket, on a manual clock:
/// every status, envelope, fault and admin call, and event streams paced in
/// exact simulated seconds. What needs the wire (the event loop's answers,
/// bytes no client would send, a whole session over libcurl) is in the
/// socket suites.
@Suite("HTTP front through the router")
struct RouterFrontTests {
    @Test("Event streams pace events by simulated time, data lines only (strict), and close with no done event")
    func pacing() async throws {
        let client = try RouterClient {
            $0.replyDurationSeconds = SecondsRange(5, 5)
            $0.heartbeatIntervalSeconds = 1
            $0.temporaryIssueRatio = 0
        }
        let (token, _, session) = try await client.signIn()
        let stream = try await client.send("hello there", session: session, token: token)
        #expect(stream.status == 200 && stream.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        #expect(stream.agentEvents.map(\.kind) == ["heartbeat", "heartbeat", "heartbeat", "heartbeat", "text"])
        // Each event written at its simulated second: beats at 1-4 s, the reply at 5 s.
        #expect(stream.chunks.map(\.time) == [1, 2, 3, 4, 5])
        #expect(stream.sseEvents.map(\.lastEventID) == ["", "", "", "", ""])
        #expect(!stream.text.contains("id:") && !stream.text.contains("done"))
        // The lenient profile numbers them.
        let lenient = try RouterClient {
            $0.replyDurationSeconds = SecondsRange(5, 5)
            $0.heartbeatIntervalSeconds = 1
            $0.temporaryIssueRatio = 0
            $0.sseEventIDs = true
        }
        let signed = try await lenient.signIn()
        let numbered = try await lenient.send("hello there", session: signed.session, token: signed.token)
        #expect(numbered.sseEvents.map(\.lastEventID) == ["1-1", "1-2", "1-3", "1-4", "1-5"])
    }

    @Test("Lenient (stream_resume): Last-Event-ID on a reconnect resumes after that event, charging nothing more")
    func resume() async throws {
        let client = try RouterClient(profile: try BehaviourProfile.shipped("lenient"))
        let (token, _, session) = try await client.signIn()
        let first = try await client.send("make a video", session: session, token: token, headers: ["X-Nemosim-Fault": #"{"drop_after_events": 3}"#])
        #expect(first.curlCode != 0, "a dropped stream is cut off")
        #expect(first.sseEvents.count == 3)
        let last = try #require(first.sseEvents.last)
        let resumed = try await client.send("make a video", session: session, token: token, headers: ["Last-Event-ID": last.lastEventID])
        #expect(resumed.curlCode == 0)
        #expect(resumed.sseEvents.first?.lastEventID == "1-4")
        #expect(resumed.agentEvents.contains { $0.kind == "tool_result" })
        #expect(try await client.get("/api/credits/balance/simple", token: token).data?["available"] == 0)
    }

    @Test("2001 comes as a JSON envelope before any stream, with the registration link")
    func outOfCredits() async throws {
        let client = try RouterClient()
        let (token, user, session) = try await client.signIn()
        _ = try await client.admin(.put, "/accounts/\(user)/credits", ["available": 10])
        let response = try await client.send("make a video", session: session, token: token)
        #expect(response.status == 200 && response.code == 2001)
        #expect(response.headers["content-type"]?.hasPrefix("application/json") == true)
        #expect(response.json["message"]?.stringValue?.contains("bind=\(user)") == true)
        let journal = try await client.admin(.get, "/journal").json["entries"]?.arrayValue ?? []
        #expect(journal.last?["path"] == "/run_sse" && journal.last?["code"] == 2001 && journal.last?["status"] == 200)
    }

    @Test("Error status mode http puts each code's status on the wire, with the code in the body")
    func httpErrorMode() async throws {
        let client = try RouterClient()
        let (token, _, _) = try await client.signIn()
        let patched = try await client.admin(.patch, "/profile", ["error_status_mode": "http"])
        #expect(patched.status == 200 && patched.json["error_status_mode"] == "http")
        let bad = try await client.get("/api/credits/balance/simple", token: "nope")
        #expect(bad.status == 401 && bad.code == 1001)
        let missing = try await client.get("/api/state/nemo_agent/me/42/latest", token: token)
        #expect(missing.status == 404 && missing.code == 1002)
        _ = try await client.admin(.patch, "/profile", ["error_status_mode": "envelope"])
        let envelope = try await client.get("/api/credits/balance/simple", token: "nope")
        #expect(envelope.status == 200 && envelope.code == 1001)
        let noClient = try await client.request(.post, "/api/auth/anonymous-token")
        #expect(noClient.status == 400 && noClient.code == 400 && noClient.text.contains("X-Client-Id"))
        // The journal holds each answer's code, from the failure itself.
        let codes = (try await client.admin(.get, "/journal").json["entries"]?.arrayValue ?? []).map { $0["code"]?.intValue }
        #expect(codes.suffix(4) == [1001, 1002, 1001, 400])
    }

    @Test("An unknown path is a 404 in the envelope, journaled")
    func unknownPath() async throws {
        let client = try RouterClient()
        let answer = try await client.get("/api/nothing/here")
        #expect(answer.status == 404 && answer.code == 404)
        let journal = try await client.admin(.get, "/journal").json["entries"]?.arrayValue ?? []
        #expect(journal.last?["path"] == "/api/nothing/here" && journal.last?["status"] == 404)
    }

    @Test("Render without attribution headers is 402 in the render envelope; upload type and size errors are 4001 and 4002")
    func documentedErrors() async throws {
        let client = try RouterClient { $0.maxUploadBytes = 1000 }
        let (token, _, session) = try await client.signIn()
        let draft: JSONValue = ["t": [["tt": 0, "sg": [["s": 0, "d": 1000]]]]]
        let noHeaders = try await client.request(
            .post, "/api/render/proxy/lambda", headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
            body: Data(JSONValue.object(["id": "r1", "sessionId": .string(session), "draft": draft]).jsonString().utf8))
        #expect(noHeaders.status == 402 && noHeaders.json["success"] == false && noHeaders.json["code"] == 402)
        let empty = try await client.post("/api/render/proxy/lambda", ["id": "r2", "sessionId": .string(session), "draft": ["t": []]], token: token)
        #expect(empty.status == 400 && empty.json["message"]?.stringValue?.contains("draft is empty") == true)
        let upload = "/api/upload-video/nemo_agent/me/\(session)"
        let text = try await client.request(
            .post, upload, headers: RouterClient.auth(token),
            multipart: [.data(name: "files", filename: "notes.txt", bytes: Data("hi".utf8), contentType: "text/plain")])
        #expect(text.code == 4001)
        let big = try await client.request(
            .post, upload, headers: RouterClient.auth(token),
            multipart: [.data(name: "files", filename: "big.mp4", bytes: Data(count: 5000), contentType: "video/mp4")])
        #expect(big.code == 4002)
        // One header empty, one absent: both count as missing; all present: none.
        _ = try await client.request(
            .get, "/api/credits/balance/simple?partial",
            headers: ["Authorization": "Bearer \(token)", "X-Skill-Source": "s", "X-Skill-Version": ""])
        _ = try await client.get("/api/credits/balance/simple?complete", token: token)
        let journal = try await client.admin(.get, "/journal")
        let entries = try #require(journal.json["entries"]?.arrayValue)
        #expect(entries.contains { $0["path"] == "/api/render/proxy/lambda" && $0["status"] == 402 && $0["missing_attribution"]?.arrayValue?.count == 3 })
        let credits = entries.filter { $0["path"] == "/api/credits/balance/simple" }
        #expect(credits.count == 2)
        #expect(credits.first?["missing_attribution"] == ["X-Skill-Version", "X-Skill-Platform"], "\(credits)")
        #expect(credits.last?["missing_attribution"] == [], "\(credits)")
        #expect(entries.contains { $0["code"] == 4001 })
        #expect(!journal.text.contains(token))
    }

    @Test("Faults: armed code, HTTP status, delay, disconnect, stall, drop, and the per-request header")
    func faults() async throws {
        let client = try RouterClient()
        let (token, _, session) = try await client.signIn()
        let credits = "/api/credits/balance/simple"
        let armed = try await client.admin(.post, "/faults", ["match": ["method": "GET", "path": .string(credits)], "respond": ["code": 1001], "times": 2])
        #expect(armed.status == 201)
        #expect(try await client.admin(.get, "/faults").json.arrayValue?.count == 1)
        #expect(try await client.get(credits, token: token).code == 1001)
        #expect(try await client.get(credits, token: token).code == 1001)
        #expect(try await client.get(credits, token: token).code == 0)
        #expect(try await client.admin(.get, "/faults").json.arrayValue?.isEmpty == true)

        _ = try await client.admin(.post, "/faults", ["match": ["path": "/api/credits/*"], "respond": ["http_status": 429]])
        #expect(try await client.get(credits, token: token).status == 429)
        // A fault on a render endpoint answers in the render envelope.
        _ = try await client.admin(.post, "/faults", ["match": ["path": "/api/render/*"], "respond": ["code": 1001]])
        let render = try await client.get("/api/render/proxy/lambda/r1", token: token)
        #expect(render.json["success"] == false && render.json["code"] == 1001)

        let delayed = try await client.get(credits, token: token, headers: ["X-Nemosim-Fault": #"{"delay_seconds": 100}"#])
        #expect(delayed.code == 0 && delayed.chunks.first?.time == 100)

        let cut = try await client.get(credits, token: token, headers: ["X-Nemosim-Fault": #"{"disconnect": true}"#])
        #expect(cut.curlCode != 0 && cut.status == 0)

        let stalled = try await client.send("make a video", session: session, token: token, headers: ["X-Nemosim-Fault": #"{"stall_seconds": 120}"#])
        #expect(stalled.agentEvents.count == 8 && stalled.agentEvents.allSatisfy { $0 == .heartbeat })
        #expect(stalled.chunks.map(\.time) == [15, 30, 45, 60, 75, 90, 105, 120])

        let badFault = try await client.get(credits, token: token, headers: ["X-Nemosim-Fault": #"{"explode": true}"#])
        #expect(badFault.status == 400 && badFault.text.contains("X-Nemosim-Fault"))
        let forever = try await client.get(credits, token: token, headers: ["X-Nemosim-Fault": #"{"delay_seconds": 1e300}"#])
        #expect(forever.status == 400 && forever.text.contains("86400"))
        let badArm = try await client.admin(.post, "/faults", ["respond": ["code": 1234]])
        #expect(badArm.status == 400 && badArm.code == 400 && badArm.text.contains("1001"))
        _ = try await client.admin(.delete, "/faults")
        #expect(try await client.get(credits, token: token).code == 0)
        let journal = try await client.admin(.get, "/journal").json["entries"]?.arrayValue ?? []
        #expect(journal.contains { $0["fault"] == "disconnect" && $0["status"] == 0 })
        #expect(journal.contains { $0["fault"] == "delay 100.0s" && $0["code"] == 0 })
    }

    @Test("Admin API: health, clock advance expires tokens, profile errors name the key, revoke, reset, journal")
    func admin() async throws {
        let client = try RouterClient(seed: 99)
        let (token, _, session) = try await client.signIn()
        let health = try await client.admin(.get, "/health")
        #expect(health.json["status"] == "ok" && health.json["seed"] == 99 && health.json["time_scale"] == 1000)
        #expect(health.json["version"]?.stringValue == NemosimVersion.current)
        let before = try #require(ISO8601.date(from: try await client.admin(.get, "/clock").json["now"]?.stringValue ?? ""))
        let advanced = try await client.admin(.post, "/clock/advance", ["seconds": 691_200])
        let after = try #require(ISO8601.date(from: advanced.json["now"]?.stringValue ?? ""))
        #expect(after.timeIntervalSince(before) == 8 * 86400)
        #expect(try await client.get("/api/credits/balance/simple", token: token).code == 1001)
        #expect(try await client.get("/api/state/nemo_agent/me/\(session)/latest", token: token).code == 1001)

        let badKey = try await client.admin(.patch, "/profile", ["heartbeat_every": 3])
        #expect(badKey.status == 400 && badKey.text.contains("heartbeat_every"))
        #expect(badKey.data?["problems"]?.arrayValue?.first?.stringValue?.contains("heartbeat_every") == true)
        let badValue = try await client.admin(.patch, "/profile", ["silent_close_ratio": "often"])
        #expect(badValue.status == 400 && badValue.text.contains("silent_close_ratio"))
        let badAdvance = try await client.admin(.post, "/clock/advance", ["seconds": "soon"])
        #expect(badAdvance.status == 400 && badAdvance.text.contains("seconds"))
        let notJSON = try await client.admin(.post, "/clock/advance", headers: [:])
        #expect(notJSON.status == 400 && notJSON.text.contains("empty"))

        let second = try await client.request(.post, "/api/auth/anonymous-token", headers: ["X-Client-Id": "admin-test"])
        let other = try #require(second.data?["token"]?.stringValue)
        #expect(try await client.get("/api/credits/balance/simple", token: other).code == 0)
        #expect(try await client.admin(.post, "/tokens/revoke", ["token": .string(other)]).status == 200)
        #expect(try await client.get("/api/credits/balance/simple", token: other).code == 1001)
        let unknown = try await client.admin(.post, "/tokens/revoke", ["token": "nmv_usr_unknown"])
        #expect(unknown.status == 404 && unknown.code == 404)

        #expect(try await client.admin(.get, "/journal").json["entries"]?.arrayValue?.isEmpty == false)
        #expect(try await client.admin(.delete, "/journal").status == 200)
        #expect(try await client.admin(.get, "/journal").json["entries"]?.arrayValue?.isEmpty == true)
        #expect(try await client.admin(.post, "/reset").status == 200)
        #expect(try await client.get("/api/credits/balance/simple", token: other).code == 1001)
    }

    @Test("Scopes (403) and token issuance limits (429)")
    func scopesAndLimits() async throws {
        let client = try RouterClient { $0.tokensPerIPPerHour = 2 }
        let (token, _, session) = try await client.signIn()
        #expect(try await client.admin(.post, "/tokens/scopes", ["token": .string(token), "scopes": ["read"]]).status == 200)
        #expect(try await client.get("/api/credits/balance/simple", token: token).code == 0)
        let denied = try await client.send("make a video", session: session, token: token)
        #expect(denied.status == 403 && denied.json["message"]?.stringValue?.contains("write") == true)
        // signIn issued one account from 127.0.0.1; one more is allowed, then 429.
        #expect(try await client.request(.post, "/api/auth/anonymous-token", headers: ["X-Client-Id": "second"]).status == 200)
        #expect(try await client.request(.post, "/api/auth/anonymous-token", headers: ["X-Client-Id": "third"]).status == 429)
        // Another address has its own limits.
        #expect(try await client.request(.post, "/api/auth/anonymous-token", headers: ["X-Client-Id": "fourth"], remote: "10.1.2.3").status == 200)
        // Strict: a known client gets one token per 7 days; the 429 says when the next is possible.
        let again = try await client.request(.post, "/api/auth/anonymous-token", headers: ["X-Client-Id": "second"])
        #expect(again.status == 429 && again.text.contains("1 token per client id per 7 days") && again.text.contains("the next is possible at"))
    }

    @Test("The admin API: loopback only by default; with an admin token, that token from anywhere, on every spelling of the path; health is public")
    func adminGuard() async throws {
        let open = try RouterClient()
        #expect(try await open.admin(.get, "/profile").status == 200)
        let remote = try await open.request(.get, "/_nemosim/profile", remote: "10.0.0.7")
        #expect(remote.status == 403 && remote.code == 403 && remote.text.contains("--admin-token"))
        #expect(try await open.request(.get, "/_nemosim/profile", remote: "::1").status == 200)

        let guarded = try RouterClient(adminToken: "s3cret")
        #expect(try await guarded.admin(.get, "/profile").status == 401)
        #expect(try await guarded.admin(.get, "/profile", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try await guarded.admin(.get, "/profile", headers: ["Authorization": "Bearer s3cret"]).status == 200)
        #expect(try await guarded.request(.get, "/_nemosim/profile", headers: ["Authorization": "Bearer s3cret"], remote: "10.0.0.7").status == 200)
        // Health is public (clients read the announced rules from it) and says nothing secret.
        let health = try await guarded.request(.get, "/_nemosim/health", remote: "10.0.0.7")
        #expect(health.status == 200 && health.json["profile"] == "strict" && health.json["client_rules"]?["stream_resume"] == false)
        #expect(!health.text.contains("s3cret"))
        // Repeated slashes reach the same routes, so the guard covers them too.
        #expect(try await guarded.request(.post, "//_nemosim/reset").status == 401)
        #expect(try await guarded.request(.get, "/_nemosim//profile").status == 401)
        // The simulator's media are no admin API.
        #expect(try await guarded.request(.get, "/_nemosim/media/uploads/x/y.png").status == 404)
    }

    @Test("Bad JSON, wrong types and missing fields are a 400 saying what is wrong; the server goes on")
    func jsonErrors() async throws {
        let client = try RouterClient()
        let (token, _, session) = try await client.signIn()
        let malformed = try await client.request(
            .post, "/run_sse", headers: RouterClient.auth(token).merging(["Content-Type": "application/json"]) { a, _ in a },
            body: Data("{\"app_name\": ".utf8))
        #expect(malformed.status == 400 && malformed.text.contains("not valid JSON"))
        let wrongType = try await client.post("/run_sse", ["app_name": "nemo_agent", "session_id": .string(session), "new_message": "hi"], token: token)
        #expect(wrongType.status == 400 && wrongType.text.contains("new_message") && wrongType.text.contains("expected JSON like"))
        let missing = try await client.post("/run_sse", ["app_name": "nemo_agent", "new_message": ["parts": [["text": "hi"]]]], token: token)
        #expect(missing.status == 400 && missing.text.contains("session_id"))
        let unknownSession = try await client.post("/run_sse", ["session_id": "123", "new_message": ["parts": [["text": "hi"]]]], token: token)
        #expect(unknownSession.code == 1002 && unknownSession.text.contains("create a new session"))
        let emptyBody = try await client.post("/api/render/proxy/lambda", nil, token: token)
        #expect(emptyBody.status == 400 && emptyBody.text.contains("empty") && emptyBody.json["success"] == false)
        let renderWrong = try await client.post(
            "/api/render/proxy/lambda", ["id": 5, "sessionId": .string(session), "draft": ["t": [["tt": 0, "sg": [["s": 0, "d": 1000]]]]]], token: token)
        #expect(renderWrong.status == 400 && renderWrong.text.contains("id"))
        let sessionWrong = try await client.post("/api/tasks/me/with-session/nemo_agent", ["task_name", "x"], token: token)
        #expect(sessionWrong.status == 400)
        // Numbers out of range in drafts and messages do not bring anything down.
        _ = try await client.post("/api/render/proxy/lambda", ["id": "r", "sessionId": "1", "draft": ["d": "1e19"]], token: token)
        _ = try await client.send("make a video", session: session, token: token)
        try await client.simulation.advanceClock(by: 400)
        for text in ["trim it to 1e16 seconds", "trim to inf seconds", "make it longer by 99999999999999999999 seconds"] {
            _ = try await client.send(text, session: session, token: token)
            try await client.simulation.advanceClock(by: 60)
        }
        #expect(try await client.get("/api/credits/balance/simple", token: token).code == 0)
    }

    @Test("Invalid multipart: no boundary, cut off before the closing boundary, part without a filename, no files part")
    func multipartErrors() async throws {
        let client = try RouterClient()
        let (token, _, session) = try await client.signIn()
        let path = "/api/upload-video/nemo_agent/me/\(session)"
        func upload(_ contentType: String, _ body: String) async throws -> TestResponse {
            try await client.request(.post, path, headers: RouterClient.auth(token).merging(["Content-Type": contentType]) { _, b in b }, body: Data(body.utf8))
        }
        let noBoundary = try await upload("multipart/form-data", "x")
        #expect(noBoundary.status == 400 && noBoundary.text.contains("boundary"))
        let cut = try await upload("multipart/form-data; boundary=XYZ", "--XYZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.mp4\"\r\n\r\nabcdef")
        #expect(cut.status == 400 && cut.text.contains("closing boundary"))
        let noName = try await upload("multipart/form-data; boundary=XYZ", "--XYZ\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\nabc\r\n--XYZ--\r\n")
        #expect(noName.status == 400 && noName.text.contains("filename"))
        let other = try await upload("multipart/form-data; boundary=XYZ", "--XYZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--XYZ--\r\n")
        #expect(other.status == 400 && other.json["message"]?.stringValue?.contains("\"files\"") == true)
        let plain = try await upload("text/plain", "x")
        #expect(plain.status == 400 && plain.text.contains("multipart/form-data"))
        // The extended file name form (RFC 5987) names the file.
        let extended = try await upload(
            "multipart/form-data; boundary=XYZ",
            "--XYZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"fallback.mp4\"; filename*=UTF-8''na%C3%AFve.mp4\r\n\r\nabc\r\n--XYZ--\r\n")
        #expect(extended.data?["files"]?[0]?["filename"] == "naïve.mp4")
    }
}

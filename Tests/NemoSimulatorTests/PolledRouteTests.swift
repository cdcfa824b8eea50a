import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// A GET on its own connection with `Connection: close`, as raw text.
private func rawGET(_ live: LiveSession, _ path: String, token: String?, attributed: Bool = true, extra: [String] = []) async -> String {
    var lines = ["GET \(path) HTTP/1.1", "Host: 127.0.0.1"]
    if let token { lines.append("Authorization: Bearer \(token)") }
    if attributed { lines += skillHeaders.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" } }
    lines += extra + ["Connection: close", "", ""]
    return await rawExchange(port: live.server.port, Array(lines.joined(separator: "\r\n").utf8))
}

/// A raw response as its head without the `Date` line (the one line that
/// may differ) and its body as JSON (the encoder's key order varies from
/// one response to the next, on either path).
private func comparable(_ text: String) -> (head: String, body: JSONValue?) {
    guard let end = text.range(of: "\r\n\r\n") else { return (text, nil) }
    let head = text[..<end.lowerBound].components(separatedBy: "\r\n").filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
    return (head, try? JSONValue.parse(Data(text[end.upperBound...].utf8)))
}

/// Sends `X-Nemosim-Fault` with a delay of a microsecond: the request goes
/// through Hummingbird's router and the front middleware instead.
private let throughRouter = [#"X-Nemosim-Fault: {"delay_seconds": 0.001}"#]

@Suite("Polled GETs answered on the event loop")
struct PolledRouteTests {
    /// Asserts that the event loop answers `path` itself, exactly as the router does.
    func expectSameAnswers(
        _ live: LiveSession, _ path: String, token: String?, attributed: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let before = live.server.eventLoopAnswerCount
        let onLoop = await rawGET(live, path, token: token, attributed: attributed)
        #expect(live.server.eventLoopAnswerCount == before + 1, "the event loop did not answer \(path)", sourceLocation: sourceLocation)
        #expect(live.server.eventLoopCodecAnswerCount == 0, "the answer to \(path) did not go past the HTTPTypes codec", sourceLocation: sourceLocation)
        let routed = await rawGET(live, path, token: token, attributed: attributed, extra: throughRouter)
        #expect(live.server.eventLoopAnswerCount == before + 1, "the event loop answered a request with a fault header", sourceLocation: sourceLocation)
        #expect(onLoop.hasPrefix("HTTP/1.1 ") && onLoop.contains("\r\nDate: "), "\(onLoop)", sourceLocation: sourceLocation)
        let (loopAnswer, routerAnswer) = (comparable(onLoop), comparable(routed))
        #expect(loopAnswer.body != nil, "\(onLoop)", sourceLocation: sourceLocation)
        #expect(loopAnswer.head == routerAnswer.head && loopAnswer.body == routerAnswer.body,
            "event loop:\n\(onLoop)\nrouter:\n\(routed)", sourceLocation: sourceLocation)
    }

    @Test("Credits, state and render status: the same bytes as the router's, successes and failures, both error modes")
    func sameAnswers() async throws {
        // At 1000x the default idle window is seconds of real time: a loaded
        // machine must not expire the session between the two requests.
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.sessionIdleTTLSeconds = 30 * 86_400
        }
        _ = await live.send("make a promo video")
        try await live.server.simulation.advanceClock(by: 200)
        let state = await live.get("/api/state/nemo_agent/me/\(live.session)/latest")
        let draft = try #require(state.data?["state"]?["draft"])
        let submitted = await live.post("/api/render/proxy/lambda", ["id": "render_polled", "sessionId": .string(live.session), "draft": draft])
        #expect(submitted.json["success"] == true)
        // A render moves on between two requests (at 1000x it takes 30-90 ms
        // of real time), so this answer is only checked for its content; the
        // finished one is compared byte for byte below.
        let early = await rawGET(live, "/api/render/proxy/lambda/render_polled", token: live.token)
        #expect(early.contains(#""success":true"#) && early.contains(#""id":"render_polled""#), "\(early)")
        try await live.server.simulation.advanceClock(by: 120)

        await expectSameAnswers(live, "/api/credits/balance/simple", token: live.token)
        await expectSameAnswers(live, "/api/credits/balance/simple", token: nil)
        await expectSameAnswers(live, "/api/credits/balance/simple", token: "nmv_usr_not_issued")
        await expectSameAnswers(live, "/api/state/nemo_agent/me/\(live.session)/latest", token: live.token)
        await expectSameAnswers(live, "/api/state/nemo_agent/\(live.user)/\(live.session)/latest", token: live.token)
        await expectSameAnswers(live, "/api/state/nemo_agent/me/no_such_session/latest", token: live.token)
        await expectSameAnswers(live, "/api/state/nemo_agent/usr_someone_else/\(live.session)/latest", token: live.token)
        await expectSameAnswers(live, "/api/render/proxy/lambda/render_polled", token: live.token)  // completed
        await expectSameAnswers(live, "/api/render/proxy/lambda/no_such_render", token: live.token)
        await expectSameAnswers(live, "/api/render/proxy/lambda/render_polled", token: nil)
        // Without the attribution headers (strict: a 1001 that names them).
        await expectSameAnswers(live, "/api/credits/balance/simple", token: live.token, attributed: false)
        await expectSameAnswers(live, "/api/state/nemo_agent/me/\(live.session)/latest", token: live.token, attributed: false)
        await expectSameAnswers(live, "/api/render/proxy/lambda/render_polled", token: live.token, attributed: false)
        let unattributed = await rawGET(live, "/api/credits/balance/simple", token: live.token, attributed: false)
        #expect(unattributed.contains(#""code":1001"#) && unattributed.contains("missing attribution headers"), "\(unattributed)")

        // The answers are the real ones, not only the same ones.
        let completed = await rawGET(live, "/api/render/proxy/lambda/render_polled", token: live.token)
        #expect(completed.contains(#""status":"completed""#), "\(completed)")
        await live.server.stop()

        let http = try await LiveSession.start { $0.errorStatusMode = .http }
        await expectSameAnswers(http, "/api/credits/balance/simple", token: "nmv_usr_not_issued")
        await expectSameAnswers(http, "/api/render/proxy/lambda/no_such_render", token: http.token)
        let refused = await rawGET(http, "/api/credits/balance/simple", token: "nmv_usr_not_issued")
        #expect(refused.hasPrefix("HTTP/1.1 401"), "\(refused)")
        await http.server.stop()
    }

    @Test("Answers leave in the order requests came on one connection, and Connection: close ends it")
    func orderOnOneConnection() async throws {
        let live = try await LiveSession.start()
        let auth = "Authorization: Bearer \(live.token)\r\n" + skillHeaders.map { "\($0.key): \($0.value)\r\n" }.joined()
        let credits = "GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n\(auth)\r\n"
        let state = "GET /api/state/nemo_agent/me/\(live.session)/latest HTTP/1.1\r\nHost: x\r\n\(auth)\r\n"
        // A request the router answers: a new session.
        let newSession = #"{"task_name":"order","language":"en"}"#
        let token = "POST /api/tasks/me/with-session/nemo_agent HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(newSession.utf8.count)\r\n\r\n\(newSession)"
        let last = "GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n"
        // Several connections, so that both of the server's event loops (the
        // domain's and the other) take some.
        for _ in 0..<6 {
            let before = live.server.eventLoopAnswerCount
            let answer = await rawExchange(port: live.server.port, Array((credits + token + state + credits + last + credits).utf8))
            // The first on the loop; the rest behind the router's answer go to the router.
            #expect(live.server.eventLoopAnswerCount == before + 1)
            let bodies = answer.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(bodies.count == 5, "five answers, none after Connection: close: \(answer)")
            let kinds = bodies.map { $0.contains(#""available""#) ? "credits" : $0.contains(#""draft""#) ? "state" : $0.contains(#""task_id""#) ? "session" : "?" }
            #expect(kinds == ["credits", "session", "state", "credits", "credits"], "\(answer)")
        }
        // Only polls: the loop answers all of them in order, several hops in
        // a row on the other loop, and nothing after Connection: close.
        for _ in 0..<6 {
            let before = live.server.eventLoopAnswerCount
            let answer = await rawExchange(port: live.server.port, Array((credits + state + credits + last + credits).utf8))
            let bodies = answer.components(separatedBy: "HTTP/1.1 ").dropFirst()
            let kinds = bodies.map { $0.contains(#""available""#) ? "credits" : $0.contains(#""draft""#) ? "state" : "?" }
            #expect(kinds == ["credits", "state", "credits", "credits"], "\(answer)")
            #expect(live.server.eventLoopAnswerCount == before + 4)
        }
        // A router answer with Connection: close ends the connection too:
        // the poll behind it is neither answered nor journaled.
        let closingToken = "POST /api/tasks/me/with-session/nemo_agent HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(newSession.utf8.count)\r\nConnection: close\r\n\r\n\(newSession)"
        let before = live.server.eventLoopAnswerCount
        let closed = await rawExchange(port: live.server.port, Array((closingToken + credits).utf8))
        #expect(closed.components(separatedBy: "HTTP/1.1 ").count == 2, "\(closed)")
        #expect(live.server.eventLoopAnswerCount == before)
        // Two Authorization fields: the router's reading (joined), not the loop's.
        let twice = await rawExchange(
            port: live.server.port,
            Array("GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eA==\r\n\(auth)Connection: close\r\n\r\n".utf8))
        #expect(!twice.contains(#""available""#), "\(twice)")
        #expect(live.server.eventLoopAnswerCount == before)

        // An event stream, then a poll on the same connection (the handler
        // has left the stream's pipeline; the router answers the poll).
        let message = #"{"app_name":"nemo_agent","user_id":"me","session_id":"\#(live.session)","new_message":{"parts":[{"text":"hello"}]}}"#
        let stream = "POST /run_sse HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(message.utf8.count)\r\n\r\n\(message)"
        for _ in 0..<2 {
            let answer = await rawExchange(port: live.server.port, Array((stream + last).utf8), timeout: 10)
            let heads = answer.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }
            #expect(heads == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], "\(answer)")
            #expect(answer.contains("text/event-stream") && answer.hasSuffix(#""total":100},"message":"success"}"#), "\(answer)")
        }
        await live.server.stop()
    }

    @Test("The journal records answers from the event loop like any other")
    func journal() async throws {
        let live = try await LiveSession.start()
        _ = await live.admin("DELETE", "/journal")
        let before = live.server.eventLoopAnswerCount
        let answer = await rawExchange(
            port: live.server.port,
            Array("GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(live.token)\r\nConnection: close\r\n\r\n".utf8))
        #expect(answer.hasPrefix("HTTP/1.1 200"))
        #expect(live.server.eventLoopAnswerCount == before + 1)
        let journal = await live.admin("GET", "/journal")
        let entries = journal.json["entries"]?.arrayValue?.filter { $0["path"] == "/api/credits/balance/simple" } ?? []
        #expect(entries.count == 1, "one entry per answer: \(entries)")
        let entry = try #require(entries.first)
        // Strict: no attribution headers, a 1001 (in an HTTP 200 envelope).
        #expect(entry["method"] == "GET" && entry["status"] == 200 && entry["code"] == 1001)
        #expect(entry["missing_attribution"] == ["X-Skill-Source", "X-Skill-Version", "X-Skill-Platform"])
        #expect(entry["fault"] == nil || entry["fault"] == .null)
        #expect(entry["time"]?.stringValue?.isEmpty == false)
        #expect(!journal.text.contains(live.token))
        await live.server.stop()
    }

    @Test("An armed fault still applies to a polled route, then the event loop answers again")
    func faultsStillApply() async throws {
        let live = try await LiveSession.start()
        _ = await live.admin("POST", "/faults", ["match": ["method": "GET", "path": "/api/credits/balance/simple"], "respond": ["code": 1001], "times": 1])
        let before = live.server.eventLoopAnswerCount
        #expect(await live.get("/api/credits/balance/simple").code == 1001)
        #expect(live.server.eventLoopAnswerCount == before)
        #expect(await live.get("/api/credits/balance/simple").code == 0)
        #expect(live.server.eventLoopAnswerCount == before + 1)
        // A fault named in the request's own header, too.
        let named = await live.get("/api/credits/balance/simple", headers: ["X-Nemosim-Fault": #"{"code": 1002}"#])
        #expect(named.code == 1002)
        #expect(live.server.eventLoopAnswerCount == before + 1)
        await live.server.stop()
    }

    @Test("Only plain paths of the three routes are answered on the loop")
    func matching() {
        #expect(PolledRouteHandler.polledRoute("/api/credits/balance/simple")?.route == .credits)
        let state = PolledRouteHandler.polledRoute("/api/state/nemo_agent/me/s1/latest")
        #expect(state?.route == .state && state?.parameters == ["user_id": "me", "session_id": "s1"])
        let render = PolledRouteHandler.polledRoute("/api/render/proxy/lambda/r1")
        #expect(render?.route == .renderStatus && render?.parameters == ["id": "r1"])
        for path in [
            "/api/credits/balance/simple/", "//api/credits/balance/simple", "/api/credits/balance/simple?x=1", "/api/credits/balance",
            "/api/%63redits/balance/simple", "/api/state/nemo_agent/me//latest", "/api/state/nemo_agent/me/./latest",
            "/api/render/proxy/lambda/download", "/api/render/proxy/lambda/r1/cancel", "/api/render/proxy/r1/download",
            "/_nemosim/health", "api/credits/balance/simple", "",
        ] {
            #expect(PolledRouteHandler.polledRoute(path) == nil, "\(path)")
        }
    }

    @Test("The Date header is in the HTTP form")
    func dateHeader() {
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_795_847_647) == "Sat, 28 Nov 2026 06:34:07 GMT")
    }
}

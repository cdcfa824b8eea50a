import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// Two simulators in the same state: the same seed, each on a clock moved
/// by hand from the same origin, one serving event streams on the event
/// loop and the other through the router's task.
private struct Pair {
    let loop: SimulatorServer
    let router: SimulatorServer
    let loopClock: ManualSimulationClock
    let routerClock: ManualSimulationClock

    static func start(_ configure: (inout BehaviourProfile) -> Void) async throws -> Pair {
        var profile = BehaviourProfile()
        configure(&profile)
        let configuration = SimulatorConfiguration(seed: 11, profile: profile)
        let loopClock = ManualSimulationClock(timeScale: 1000)
        let routerClock = ManualSimulationClock(timeScale: 1000)
        return Pair(
            loop: try await SimulatorServer.start(configuration, clock: loopClock, eventLoopStreams: true),
            router: try await SimulatorServer.start(configuration, clock: routerClock, eventLoopStreams: false),
            loopClock: loopClock, routerClock: routerClock)
    }

    init(loop: SimulatorServer, router: SimulatorServer, loopClock: ManualSimulationClock, routerClock: ManualSimulationClock) {
        self.loop = loop
        self.router = router
        self.loopClock = loopClock
        self.routerClock = routerClock
    }

    func stop() async {
        await loop.stop()
        await router.stop()
    }
}

/// Sends `request` on its own connection and moves `clock` on by `step`
/// whenever something waits for it, until the server closes the
/// connection; returns everything it sent, framing included.
private func exchange(_ server: SimulatorServer, clock: ManualSimulationClock, _ request: String, step: Double = 0.5) async -> String {
    let driver = Task {
        while !Task.isCancelled {
            if clock.sleeperCount > 0 { clock.advance(by: step) }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
    defer { driver.cancel() }
    return await rawExchange(port: server.port, Array(request.utf8), timeout: 10)
}

/// A raw `/run_sse` request with `Connection: close`.
private func streamRequest(token: String?, body: String, extra: [String] = []) -> String {
    var lines = ["POST /run_sse HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", "Accept: text/event-stream"]
    if let token { lines.append("Authorization: Bearer \(token)") }
    lines += skillHeaders.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
    lines += extra + ["Content-Length: \(body.utf8.count)", "Connection: close", "", body]
    return lines.joined(separator: "\r\n")
}

/// The first `/run_sse` journal entry, once there is one (a stream's entry
/// is written when it ends; up to 2 s).
private func firstStreamEntry(_ server: SimulatorServer) async -> JournalEntry? {
    await streamEntries(server, count: 1).first
}

/// The journal's `/run_sse` entries once there are `count` (or after 10 s):
/// an entry is written when its stream's end is seen, on a loop or a task
/// a loaded machine may run late.
private func streamEntries(_ server: SimulatorServer, count: Int) async -> [JournalEntry] {
    let deadline = ContinuousClock.now + .seconds(10)
    var entries: [JournalEntry] = []
    while ContinuousClock.now < deadline {
        entries = server.journal(JournalQuery(path: "/run_sse")).entries
        if entries.count >= count { break }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return entries
}

/// The session's `Authorization` and attribution header lines.
private func authLines(_ live: LiveSession) -> String {
    "Authorization: Bearer \(live.token)\r\n" + skillHeaders.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\r\n" }.joined()
}

/// The `/run_sse` request for `text` on `live`'s session, with `extra` header lines.
private func streamBody(_ live: LiveSession, text: String = "make a video") -> String {
    #"{"app_name": "nemo_agent", "user_id": "me", "session_id": "\#(live.session)", "new_message": {"parts": [{"text": "\#(text)"}]}}"#
}

/// Sends a keep-alive `/run_sse` request on `socket`.
private func sendStream(_ socket: HeldSocket, _ live: LiveSession, text: String = "make a video", extra: String = "") {
    let body = streamBody(live, text: text)
    socket.send("POST /run_sse HTTP/1.1\r\nHost: x\r\n\(authLines(live))\(extra)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
}

/// The response without its `Date` line (the one line that may differ).
/// Credits for any number of messages, and generations that stream a 1 s
/// heartbeat for an hour (a stream that stays open while a test acts).
private func hourLongStreams(_ profile: inout BehaviourProfile) {
    profile.initialCredits = 1_000_000
    profile.generationDurationSeconds = SecondsRange(3600, 3600)
    profile.heartbeatIntervalSeconds = 1
}

private func withoutDate(_ text: String) -> String {
    text.components(separatedBy: "\r\n").filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
}

@Suite("Event streams served on the event loop")
struct EventLoopStreamTests {
    @Test("The same bytes as the router's stream: events, ids, heartbeats, faults, errors, endings and journal entries")
    func sameBytesBothWays() async throws {
        let pair = try await Pair.start {
            $0.sseEventIDs = true
            $0.silentCloseRatio = 0.5
            $0.heartbeatIntervalSeconds = 5
            $0.initialCredits = 1_000_000
        }
        var sessions: [String] = []
        var tokens: [String] = []
        for server in [pair.loop, pair.router] {
            let issued = await CurlTestClient.request("POST", server.url + "/api/auth/anonymous-token", headers: ["X-Client-Id": "same-client"])
            let token = try #require(issued.data?["token"]?.stringValue)
            let created = await CurlTestClient.json(
                "POST", server.url + "/api/tasks/me/with-session/nemo_agent", token: token, headers: skillHeaders, ["task_name": "project", "language": "en"])
            sessions.append(try #require(created.data?["session_id"]?.stringValue))
            tokens.append(token)
        }
        #expect(sessions[0] == sessions[1] && tokens[0] == tokens[1], "the two simulators are not in the same state")
        let (token, session) = (tokens[0], sessions[0])
        func message(_ text: String) -> String {
            #"{"app_name": "nemo_agent", "user_id": "me", "session_id": "\#(session)", "new_message": {"parts": [{"text": "\#(text)"}]}}"#
        }
        let requests: [(String, String)] = [
            ("a generation", streamRequest(token: token, body: message("make a promo video"))),
            ("an edit", streamRequest(token: token, body: message("make the title bigger"))),
            ("a stall fault", streamRequest(token: token, body: message("add music"), extra: [#"X-Nemosim-Fault: {"stall_seconds": 12}"#])),
            ("a drop fault", streamRequest(token: token, body: message("add music"), extra: [#"X-Nemosim-Fault: {"drop_after_events": 2}"#])),
            ("an error fault", streamRequest(token: token, body: message("add music"), extra: [#"X-Nemosim-Fault: {"code": 2001}"#])),
            ("a delay fault", streamRequest(token: token, body: message("make it shorter"), extra: [#"X-Nemosim-Fault: {"delay_seconds": 3}"#])),
            ("a disconnect fault", streamRequest(token: token, body: message("add music"), extra: [#"X-Nemosim-Fault: {"disconnect": true}"#])),
            ("no token", streamRequest(token: nil, body: message("add music"))),
            ("an empty body", streamRequest(token: token, body: "")),
            ("a body that is not JSON", streamRequest(token: token, body: "{make a video")),
            ("another session's id", streamRequest(token: token, body: message("hello").replacingOccurrences(of: session, with: "no_such_session"))),
        ]
        let servedBefore = (pair.loop.eventLoopAnswerCount, pair.router.eventLoopAnswerCount)
        var sawEvents = 0
        for (name, request) in requests {
            let onLoop = await exchange(pair.loop, clock: pair.loopClock, request)
            let routed = await exchange(pair.router, clock: pair.routerClock, request)
            #expect(withoutDate(onLoop) == withoutDate(routed), "\(name): event loop:\n\(onLoop)\nrouter:\n\(routed)")
            sawEvents += onLoop.components(separatedBy: "\ndata: ").count - 1
        }
        #expect(sawEvents > 20, "the streams carried too few events to compare")
        // Every request but the disconnect was answered by the event loop on one side, by the router on the other.
        #expect(pair.loop.eventLoopAnswerCount - servedBefore.0 == requests.count - 1)
        #expect(pair.router.eventLoopAnswerCount == servedBefore.1)
        // The same journal entries (durations and wall times aside).
        func entries(_ server: SimulatorServer) -> [String] {
            server.journal(JournalQuery(path: "/run_sse")).entries.map { entry in
                "\(entry.status) \(entry.code.map(String.init) ?? "-") \(entry.fault ?? "-") \(entry.stream.map { "\($0.events) \($0.ended)" } ?? "-") "
                    + "\(entry.simulatedSeconds) \(entry.session ?? "-") \(entry.account ?? "-") \(entry.body?.size ?? -1) "
                    + "\(entry.operationEndsSeconds ?? -1) \(entry.missingAttribution)"
            }
        }
        #expect(entries(pair.loop) == entries(pair.router))
        func bodies(_ server: SimulatorServer) -> [JSONValue?] { server.journal(JournalQuery(path: "/run_sse")).entries.map { $0.body?.json } }
        #expect(bodies(pair.loop) == bodies(pair.router))
        #expect(entries(pair.loop).count == requests.count)
        await pair.stop()
    }

    @Test("One keep-alive connection: a stream on the event loop, then a routed request (the router joins mid-connection), then a polled GET")
    func routerJoinsAfterAStream() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.initialCredits = 1_000_000
            $0.generationDurationSeconds = SecondsRange(5, 5)
        }
        let socket = try #require(HeldSocket(port: live.server.port))
        let before = live.server.eventLoopAnswerCount
        sendStream(socket, live)
        let auth = authLines(live)
        let streamed = await socket.read(until: "\r\n0\r\n\r\n", within: 30)
        #expect(streamed.hasPrefix("HTTP/1.1 200 OK\r\n") && streamed.contains(#""type":"tool_call""#) && streamed.hasSuffix("\r\n0\r\n\r\n"), "\(streamed)")
        #expect(live.server.eventLoopAnswerCount == before + 1, "the stream was not served on the event loop")
        // A routed request on the same connection: Hummingbird's handlers join the pipeline now.
        let session = #"{"task_name": "second", "language": "en"}"#
        socket.send("POST /api/tasks/me/with-session/nemo_agent HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(session.utf8.count)\r\n\r\n\(session)")
        let created = await socket.read(until: #""message":"success"}"#, within: 10)
        #expect(created.hasPrefix("HTTP/1.1 200 OK\r\n") && created.contains(#""session_id""#), "\(created)")
        socket.send("GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        let credits = await socket.read(until: #""message":"success"}"#, within: 10)
        #expect(credits.hasPrefix("HTTP/1.1 200 OK\r\n") && credits.contains(#""available""#), "\(credits)")
        await live.server.stop()
    }

    @Test("A client that leaves mid-stream: journaled as the client's end, with the events it was sent")
    func clientLeaves() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            hourLongStreams(&$0)
        }
        var socket = HeldSocket(port: live.server.port)
        if let socket { sendStream(socket, live) }
        let first = await socket?.read(until: "heartbeat", within: 10) ?? ""
        #expect(first.contains("heartbeat"), "\(first)")
        socket = nil  // closes it
        let entry = await firstStreamEntry(live.server)
        let ended = try #require(entry?.stream)
        #expect(ended.ended == "client" && ended.events >= 2, "\(ended)")
        await live.server.stop()
    }

    @Test("An armed fault is taken by the event loop's stream, once")
    func armedFault() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.silentGenerationRatio = 0
            $0.initialCredits = 1_000_000
        }
        let armed = await live.admin("POST", "/faults", ["match": ["path": "/run_sse"], "respond": ["drop_after_events": 1], "times": 1])
        #expect(armed.status == 201, "\(armed.text)")
        let before = live.server.eventLoopAnswerCount
        let dropped = await live.send("make a video")
        #expect(dropped.sseEvents.count == 1, "\(dropped.text)")
        let whole = await live.send("make it shorter")
        #expect(whole.sseEvents.count > 1 && whole.agentEvents.contains { $0.kind == "text" }, "\(whole.text)")
        #expect(live.server.eventLoopAnswerCount == before + 2)
        let entries = await streamEntries(live.server, count: 2)
        #expect(entries.map { $0.fault ?? "-" } == ["drop after 1 events", "-"])
        #expect(entries.map { $0.stream?.ended ?? "-" } == ["fault", "server"])
        await live.server.stop()
    }

    @Test("Stopping the server closes the event loop's streams after its grace, and stop returns")
    func stopClosesStreams() async throws {
        let live = try await LiveSession.start {
            hourLongStreams(&$0)
        }
        let socket = try #require(HeldSocket(port: live.server.port))
        sendStream(socket, live)
        #expect(await socket.read(until: "tool_call", within: 10).contains("tool_call"))
        let idle = try #require(HeldSocket(port: live.server.port))  // an idle connection, never used
        await live.server.stop()
        #expect(await socket.closedByServer(within: 5))
        #expect(await idle.closedByServer(within: 5))
        let entry = try #require(await firstStreamEntry(live.server))
        #expect(entry.stream?.ended == "client", "a stream cut by the server's stop ends as the router's cancelled streams do")
    }

    @Test("A request pipelined behind a stream is answered after the stream's end")
    func pipelinedBehindAStream() async throws {
        let live = try await LiveSession.start {
            $0.silentCloseRatio = 0
            $0.silentGenerationRatio = 0
            $0.initialCredits = 1_000_000
            $0.generationDurationSeconds = SecondsRange(5, 5)
        }
        let socket = try #require(HeldSocket(port: live.server.port))
        let body = streamBody(live)
        let auth = authLines(live)
        let before = live.server.eventLoopAnswerCount
        socket.send(
            "POST /run_sse HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                + "GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n")
        let both = await socket.read(until: #""message":"success"}"#, within: 30)
        let streamEnd = try #require(both.range(of: "\r\n0\r\n\r\n"), "\(both)")
        let credits = try #require(both.range(of: "HTTP/1.1 200 OK\r\nContent-Type: application/json"), "\(both)")
        #expect(streamEnd.upperBound <= credits.lowerBound, "the credits answer came before the stream ended:\n\(both)")
        #expect(both.contains(#""type":"text""#) && both.contains(#""available""#))
        #expect(live.server.eventLoopAnswerCount == before + 2)
        await live.server.stop()
    }

    @Test("A client with a 4 KiB receive buffer that starts reading late gets every one of 10,000 events, and the journal counts them")
    func slowReader() async throws {
        // 10,000 heartbeats of the ADK dialect (about 1.5 MB) due within 0.1 s
        // of real time. (Kept small: the tests' servers share the event
        // loops. Whether the stream waited for writability depends on how
        // fast this build writes; the wait itself was measured on the
        // release build: the README's performance table.)
        let live = try await LiveSession.start(timeScale: 100_000) {
            // An hour here is 36 ms: nothing may expire before the stream starts.
            $0.sessionIdleTTLSeconds = 365 * 86_400
            $0.tokenTTLSeconds = 365 * 86_400
            $0.initialCredits = 1_000_000
            $0.heartbeatIntervalSeconds = 1
            $0.sseDialect = .adk
        }
        let socket = try #require(HeldSocket(port: live.server.port, receiveBuffer: 4096))
        sendStream(socket, live, extra: "X-Nemosim-Fault: {\"stall_seconds\": 10000}\r\n")
        try await Task.sleep(for: .seconds(1))  // not reading
        let all = await socket.read(until: "\r\n0\r\n\r\n", within: 60)
        #expect(all.hasSuffix("\r\n0\r\n\r\n"))
        #expect(all.components(separatedBy: "\r\ndata: ").count - 1 == 10_000, "events missing")
        let entry = await firstStreamEntry(live.server)
        #expect(entry?.stream?.events == 10_000 && entry?.stream?.ended == "fault", "\(String(describing: entry?.stream))")
        #expect(live.server.eventLoopStreamEventCount == 10_000)
        await live.server.stop()
    }

    @Test("A client that half-closes after its request gets the answer, then the connection ends (as Hummingbird ends it)")
    func halfClose() async throws {
        let live = try await LiveSession.start()
        let socket = try #require(HeldSocket(port: live.server.port))
        let auth = authLines(live)
        socket.send("GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        shutdown(socket.fd, Int32(SHUT_WR))
        let answer = await socket.read(until: #""message":"success"}"#, within: 10)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer)")
        #expect(await socket.closedByServer(within: 5), "the connection stayed open after the client half-closed")
        await live.server.stop()
    }

    @Test("A request that does not parse gets Hummingbird's 400 and the connection ends, before any request opened the router's way in")
    func malformedFirstRequest() async throws {
        let live = try await LiveSession.start()
        let answer = await rawExchange(port: live.server.port, Array("GET /api/credits HTTP/1.1\r\nHost x\r\n\r\n".utf8), timeout: 5)
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        await live.server.stop()
    }

    @Test("A client that leaves in the middle of a stream's request body is journaled, as the router journals a body it could not read")
    func leavesMidBody() async throws {
        let live = try await LiveSession.start()
        var socket = HeldSocket(port: live.server.port)
        let auth = authLines(live)
        socket?.send("POST /run_sse HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"app_name\":")
        try await Task.sleep(for: .milliseconds(50))
        socket = nil
        let entry = await firstStreamEntry(live.server)
        #expect(entry?.code == 400 && entry?.stream == nil, "\(String(describing: entry))")
        await live.server.stop()
    }

    @Test("Stopping the server also ends a stream the router serves (no task cancels it: the handler closes it after the grace)")
    func stopClosesRouterStreams() async throws {
        let live = try await LiveSession.start(eventLoopStreams: false) {
            hourLongStreams(&$0)
        }
        let server = live.server
        let socket = try #require(HeldSocket(port: server.port))
        sendStream(socket, live)
        #expect(await socket.read(until: "tool_call", within: 10).contains("tool_call"))
        #expect(server.eventLoopAnswerCount == 0, "the router was to serve this stream")
        let began = ContinuousClock.now
        await server.stop()
        #expect(ContinuousClock.now - began < .seconds(3), "stop waited past the grace")
        #expect(await socket.closedByServer(within: 5))
        let entry = try #require(await firstStreamEntry(server))
        #expect(entry.stream?.ended == "client", "\(String(describing: entry.stream))")
    }

    @Test("Two streams on one keep-alive connection, walked by the event loop's timers: the same bytes as the router's")
    func sameBytesWithTimers() async throws {
        var answers: [String] = []
        var served: [Int] = []
        for onLoop in [true, false] {
            let live = try await LiveSession.start(seed: 5, clientID: "same-client", eventLoopStreams: onLoop) {
                $0.initialCredits = 1_000_000
                $0.sseEventIDs = true
                $0.heartbeatIntervalSeconds = 5
                $0.generationDurationSeconds = SecondsRange(40, 60)
                // The first message's second stage (music and a title) must not end while the test
                // runs: the answer to the second message says whether the video has a title, and a
                // loaded machine could let a short stage end before one run's second message and
                // after the other's.
                $0.editDurationSeconds = SecondsRange(10, 20)
                $0.secondStageDurationSeconds = SecondsRange(86_400, 86_400)
            }
            let server = live.server
            let socket = try #require(HeldSocket(port: server.port))
            let before = server.eventLoopAnswerCount
            sendStream(socket, live)
            var text = await socket.read(until: "\r\n0\r\n\r\n", within: 20)
            sendStream(socket, live, text: "make the title bigger")
            text += await socket.read(until: "\r\n0\r\n\r\n", within: 20)
            answers.append(withoutDate(text))
            served.append(server.eventLoopAnswerCount - before)
            await server.stop()
        }
        #expect(served == [2, 0])
        #expect(answers[0].components(separatedBy: "\ndata: ").count > 10, "\(answers[0])")
        #expect(answers[0] == answers[1], "event loop:\n\(answers[0])\nrouter:\n\(answers[1])")
    }
}

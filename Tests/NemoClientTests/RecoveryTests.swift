import Foundation
import NemoClient
import NemoCore
import Synchronization
import Testing

/// The recovery rules as a state machine, one rule at a time, with no
/// server and no clock.
@Suite("Recovery rules, without a socket")
struct RecoveryTests {
    func request(sessionBound: Bool = true, issuesToken: Bool = false, _ policy: RecoveryPolicy = RecoveryPolicy()) -> Recovery {
        Recovery(policy: policy, call: .request(sessionBound: sessionBound, issuesToken: issuesToken))
    }

    @Test("1001: a new token, once; never for the token call itself")
    func tokenInvalid() {
        var recovery = request()
        #expect(recovery.next(after: .answered(status: 200, code: .tokenInvalid)) == .renewToken)
        #expect(recovery.next(after: .answered(status: 200, code: .tokenInvalid)) == .accept)
        var issuing = request(issuesToken: true)
        #expect(issuing.next(after: .answered(status: 200, code: .tokenInvalid)) == .accept)
        // In http error mode the status says 401; the code still decides.
        var http = request()
        #expect(http.next(after: .answered(status: 401, code: .tokenInvalid)) == .renewToken)
    }

    @Test("1002: a new session, once, for calls bound to a session")
    func sessionNotFound() {
        var bound = request()
        #expect(bound.next(after: .answered(status: 200, code: .sessionNotFound)) == .newSession)
        #expect(bound.next(after: .answered(status: 200, code: .sessionNotFound)) == .accept)
        var unbound = request(sessionBound: false)
        #expect(unbound.next(after: .answered(status: 200, code: .sessionNotFound)) == .accept)
    }

    @Test("429: wait 30 s, then once more")
    func rateLimited() {
        var recovery = request()
        #expect(recovery.next(after: .answered(status: 429, code: nil)) == .waitAndRetry(seconds: 30, reason: "429 rate limited"))
        #expect(recovery.next(after: .answered(status: 429, code: nil)) == .accept)
    }

    @Test("Success and the other errors stand as they are")
    func accepted() {
        var recovery = request()
        for (status, code) in [(200, ErrorCode.success), (200, .outOfCredits), (200, .unsupportedFileType), (402, nil), (403, nil), (500, nil)] {
            #expect(recovery.next(after: .answered(status: status, code: code)) == .accept, "\(status) \(String(describing: code))")
        }
    }

    @Test("Each rule can be turned off")
    func rulesOff() {
        var recovery = request(RecoveryPolicy.none)
        #expect(recovery.next(after: .answered(status: 200, code: .tokenInvalid)) == .accept)
        #expect(recovery.next(after: .answered(status: 200, code: .sessionNotFound)) == .accept)
        #expect(recovery.next(after: .answered(status: 429, code: nil)) == .accept)
        var message = Recovery(policy: .none, call: .message)
        #expect(message.next(after: .streamClosed(sawText: false)) == .finish(.silentClose))
        var dropped = Recovery(policy: .none, call: .message)
        #expect(dropped.next(after: .streamDropped(lastEventID: "1-3")) == .giveUp("the event stream broke off"))
    }

    @Test("A message refused before its stream: the same rules, 1002 only while nothing has streamed")
    func messageRefused() {
        var message = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(message.next(after: .answered(status: 200, code: .sessionNotFound)) == .newSession)
        var streamed = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(streamed.next(after: .streamDropped(lastEventID: "1-3")) == .pollState(after: 30))
        #expect(streamed.next(after: .answered(status: 200, code: .sessionNotFound)) == .accept)
        var refused = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(refused.next(after: .answered(status: 200, code: .outOfCredits)) == .accept)
    }

    @Test("Skill 1.9 §3.6: a stream that closes after text is done; a silent close checks the state at once, then every 60 s, at most 5 times")
    func silentClose() {
        var withText = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(withText.next(after: .streamClosed(sawText: true)) == .finish(.text))
        var silent = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(silent.next(after: .streamClosed(sawText: false)) == .pollState(after: 0))
        #expect(silent.next(after: .stateChecked(changed: false)) == .pollState(after: 60))
        #expect(silent.next(after: .stateChecked(changed: true)) == .finish(.silentClose))
        var unchanged = Recovery(policy: RecoveryPolicy(), call: .message)
        var actions = [unchanged.next(after: .streamClosed(sawText: false))]
        for _ in 0..<5 { actions.append(unchanged.next(after: .stateChecked(changed: false))) }
        #expect(actions == [.pollState(after: 0)] + Array(repeating: .pollState(after: 60), count: 4) + [.finish(.silentClose)])
    }

    @Test("State checks stop at the policy's limit")
    func checkLimit() {
        var policy = RecoveryPolicy()
        policy.maxStateChecks = 2
        var recovery = Recovery(policy: policy, call: .message)
        #expect(recovery.next(after: .streamDropped(lastEventID: nil)) == .pollState(after: 30))
        #expect(recovery.next(after: .stateChecked(changed: false)) == .pollState(after: 60))
        guard case .giveUp = recovery.next(after: .stateChecked(changed: false)) else {
            Issue.record("expected to give up after 2 checks")
            return
        }
    }

    @Test("Skill 1.9 §3.6: a lost stream is never re-sent: the state after 30 s, then every 60 s, 5 checks in all, then a failure")
    func droppedStream() {
        var recovery = Recovery(policy: RecoveryPolicy(), call: .message)
        var actions = [recovery.next(after: .streamDropped(lastEventID: "1-3"))]
        for _ in 0..<4 { actions.append(recovery.next(after: .stateChecked(changed: false))) }
        #expect(actions == [.pollState(after: 30)] + Array(repeating: .pollState(after: 60), count: 4))
        guard case .giveUp(let why) = recovery.next(after: .stateChecked(changed: false)) else {
            Issue.record("expected to give up after 5 checks")
            return
        }
        #expect(why.contains("5 checks"))
        #expect(recovery.reconnectCount == 0)
        var changed = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(changed.next(after: .streamDropped(lastEventID: nil)) == .pollState(after: 30))
        #expect(changed.next(after: .stateChecked(changed: true)) == .finish(.lost))
    }

    @Test("Reconnects with Last-Event-ID only where the server announces that it resumes streams, at most 3 times")
    func resumeWhenAnnounced() {
        var recovery = Recovery(policy: RecoveryPolicy(), call: .message, serverResumes: true)
        #expect(recovery.next(after: .streamDropped(lastEventID: "1-3")) == .reconnect(attempt: 1, lastEventID: "1-3", after: 2))
        #expect(recovery.next(after: .streamDropped(lastEventID: "1-5")) == .reconnect(attempt: 2, lastEventID: "1-5", after: 2))
        #expect(recovery.next(after: .streamDropped(lastEventID: "1-6")) == .reconnect(attempt: 3, lastEventID: "1-6", after: 2))
        #expect(recovery.next(after: .streamDropped(lastEventID: "1-7")) == .pollState(after: 30))
        #expect(recovery.reconnectCount == 3)
        // Without an event id to resume from, the state is checked.
        var noID = Recovery(policy: RecoveryPolicy(), call: .message, serverResumes: true)
        #expect(noID.next(after: .streamDropped(lastEventID: nil)) == .pollState(after: 30))
    }

    @Test("Heartbeats only for too long: the stream is lost; the state is checked as after a drop")
    func timedOut() {
        var recovery = Recovery(policy: RecoveryPolicy(), call: .message)
        #expect(recovery.next(after: .streamTimedOut) == .pollState(after: 30))
        #expect(recovery.next(after: .stateChecked(changed: true)) == .finish(.timedOut))
        var off = Recovery(policy: .none, call: .message)
        #expect(off.next(after: .streamTimedOut) == .finish(.timedOut))
    }

    @Test("The watchdog: 'still working' every 2 minutes without text, a timeout after 10 minutes of heartbeats only")
    func watchdog() {
        var dog = StreamWatchdog(policy: RecoveryPolicy(), start: 1000)
        #expect(dog.check(at: 1100) == .quiet)
        dog.saw(.heartbeat, at: 1100)
        #expect(dog.check(at: 1120) == .stillWorking(seconds: 120))
        #expect(dog.check(at: 1200) == .quiet)
        dog.saw(.toolCall(name: "edit", args: [:]), at: 1200)
        #expect(dog.check(at: 1240) == .stillWorking(seconds: 240))
        #expect(dog.check(at: 1799) == .stillWorking(seconds: 799))
        #expect(dog.check(at: 1800) == .timedOut)
        // Text stops the notices; the timeout counts from the last event that was not a heartbeat.
        var talking = StreamWatchdog(policy: RecoveryPolicy(), start: 0)
        talking.saw(.text("working on it"), at: 10)
        #expect(talking.check(at: 300) == .quiet)
        #expect(talking.check(at: 609) == .quiet)
        #expect(talking.check(at: 610) == .timedOut)
        #expect(talking.checkInterval == 10)
    }
}

/// A transport that answers from a script, recording every request.
final class ScriptedTransport: HTTPTransport, Sendable {
    enum Reply: Sendable {
        case answer(ClientResponse)
        /// An event stream of these texts, then a close (or a drop).
        case stream([String], drops: Bool)
    }

    private let state: Mutex<(replies: [Reply], requests: [ClientRequest])>

    init(_ replies: [Reply]) {
        state = Mutex((replies, []))
    }

    var requests: [ClientRequest] { state.withLock { $0.requests } }

    private func next(_ request: ClientRequest) -> Reply {
        state.withLock { state in
            state.requests.append(request)
            return state.replies.isEmpty ? .answer(Self.json(500, #"{"code": 500, "message": "script ran out"}"#)) : state.replies.removeFirst()
        }
    }

    static func json(_ status: Int, _ body: String) -> ClientResponse {
        ClientResponse(status: status, headers: [("Content-Type", "application/json")], body: Data(body.utf8))
    }

    func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        guard case .answer(let response) = next(request) else { throw TransportError(kind: .other, message: "a stream where an answer was expected") }
        return response
    }

    func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        try await send(request, progress: progress)
    }

    func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        let reply = next(request)
        return AsyncThrowingStream { continuation in
            switch reply {
            case .answer(let response):
                continuation.yield(.head(status: response.status, headers: response.headers))
                continuation.yield(.body(response.body))
                continuation.finish()
            case .stream(let events, let drops):
                continuation.yield(.head(status: 200, headers: [("Content-Type", "text/event-stream")]))
                for event in events { continuation.yield(.body(Data(event.utf8))) }
                if drops { continuation.finish(throwing: TransportError(kind: .cutOff, message: "cut off")) } else { continuation.finish() }
            }
        }
    }
}

/// The client's loops carrying the rules out, against a scripted transport
/// and a manual clock: every wait is on the clock, none in real time.
@Suite("The client's loops follow the rules, without a socket")
struct RecoveryLoopTests {
    static let state = #"{"code": 0, "message": "success", "data": {"state": {"draft": {"t": []}, "video_infos": []}}}"#
    static let changedState = #"{"code": 0, "message": "success", "data": {"state": {"draft": {"t": [{"tt": 0, "sg": [{"s": 0, "d": 1000}]}]}, "video_infos": []}}}"#

    func client(_ transport: ScriptedTransport, announced: AnnouncedRules = AnnouncedRules()) -> (NemoClient, ManualClientClock, ActionLog) {
        // Each wait is jumped to at once; the stream's watchdog is off (its
        // timer would jump the clock too; its rules are tested above).
        let clock = ManualClientClock(autoAdvance: true)
        let actions = ActionLog()
        var policy = RecoveryPolicy()
        policy.stillWorkingEverySeconds = .infinity
        policy.heartbeatOnlyTimeoutSeconds = .infinity
        let client = NemoClient(
            configuration: ClientConfiguration(baseURL: "http://scripted", token: "nmv_usr_scripted", clientID: "c1"), transport: transport,
            policy: policy, clock: clock, sessionID: "42", announced: announced, onAction: { actions.append($0) })
        return (client, clock, actions)
    }

    @Test("429, then success: 30 API seconds waited on the client's clock, one retry")
    func rateLimited() async throws {
        let transport = ScriptedTransport([
            .answer(ScriptedTransport.json(429, #"{"code": 429, "message": "slow down"}"#)),
            .answer(ScriptedTransport.json(200, #"{"code": 0, "message": "success", "data": {"available": 7, "frozen": 0}}"#)),
        ])
        let (client, clock, actions) = client(transport)
        #expect(try await client.credits().available == 7)
        #expect(clock.now == 30)
        #expect(actions.all == [.waited(seconds: 30, reason: "429 rate limited"), .retried(reason: "429")])
        #expect(transport.requests.count == 2)
    }

    static let generationEvent = "data: {\"type\":\"tool_call\",\"name\":\"generate_video\",\"args\":{}}\n\n"

    @Test("Skill 1.9 §3.6: a dropped stream is never re-sent: the state after 30 s, then every 60 s; a change ends it as lost")
    func lostThenChanged() async throws {
        let transport = ScriptedTransport([
            .answer(ScriptedTransport.json(200, Self.state)),
            .stream([Self.generationEvent], drops: true),
            .answer(ScriptedTransport.json(200, Self.state)),
            .answer(ScriptedTransport.json(200, Self.state)),
            .answer(ScriptedTransport.json(200, Self.changedState)),
        ])
        let (client, clock, actions) = client(transport)
        let outcome = try await client.sendAndWait("make a video")
        #expect(outcome.ending == .lost && outcome.stateChanged && outcome.reconnects == 0)
        #expect(transport.requests.filter { $0.method == "POST" }.count == 1, "the message is never sent again")
        #expect(actions.all.filter { $0.kind == "waited" } == [
            .waited(seconds: 30, reason: "state check"), .waited(seconds: 60, reason: "state check"), .waited(seconds: 60, reason: "state check"),
        ])
        #expect(clock.now == 150)
    }

    @Test("Skill 1.9 §3.6: five checks with no change (30 s, then 60 s apart) end in a failure that offers a retry")
    func lostForGood() async throws {
        let transport = ScriptedTransport(
            [.answer(ScriptedTransport.json(200, Self.state)), .stream([Self.generationEvent], drops: true)]
                + Array(repeating: .answer(ScriptedTransport.json(200, Self.state)), count: 5))
        let (client, clock, actions) = client(transport)
        let error = await #expect(throws: NemoError.self) { _ = try await client.sendAndWait("make a video") }
        #expect(error?.kind == .streamLost && error?.message.contains("send the message again") == true, "\(String(describing: error))")
        #expect(actions.all.filter { $0.kind == "polled_state" }.count == 5)
        #expect(actions.all.filter { $0.kind == "waited" }.map(\.description) == ["waited 30 s (state check)"] + Array(repeating: "waited 60 s (state check)", count: 4))
        #expect(clock.now == 270)
        #expect(transport.requests.filter { $0.method == "POST" }.count == 1)
    }

    @Test("Where the server announces stream resume: reconnect with Last-Event-ID after 2 s, the same message")
    func reconnect() async throws {
        let transport = ScriptedTransport([
            .answer(ScriptedTransport.json(200, Self.state)),
            .stream(["id: 1-1\n" + Self.generationEvent], drops: true),
            .stream(["id: 1-2\ndata: {\"type\":\"text\",\"content\":\"Done\"}\n\n"], drops: false),
        ])
        let (client, clock, actions) = client(transport, announced: AnnouncedRules(streamResume: true))
        let outcome = try await client.sendAndWait("make a video")
        #expect(outcome.ending == .text && outcome.reconnects == 1 && outcome.texts == ["Done"])
        let posts = transport.requests.filter { $0.method == "POST" }
        #expect(posts.count == 2)
        #expect(posts[0].header("Last-Event-ID") == nil && posts[1].header("Last-Event-ID") == "1-1")
        #expect(actions.all == [.waited(seconds: 2, reason: "reconnect delay"), .reconnected(attempt: 1, lastEventID: "1-1")])
        #expect(clock.now == 2)
    }

    @Test("A silent close checks the state at once, then every 60 s, until the draft changes")
    func silentClose() async throws {
        let transport = ScriptedTransport([
            .answer(ScriptedTransport.json(200, Self.state)),
            .stream(["data: {\"type\":\"tool_result\",\"name\":\"edit_video\",\"result\":{}}\n\n"], drops: false),
            .answer(ScriptedTransport.json(200, Self.state)),
            .answer(ScriptedTransport.json(200, Self.changedState)),
        ])
        let (client, clock, actions) = client(transport)
        let outcome = try await client.sendAndWait("add a title")
        #expect(outcome.ending == .silentClose && outcome.stateChanged)
        #expect(actions.all.filter { $0.kind == "polled_state" } == [.polledState(changed: false), .polledState(changed: true)])
        #expect(actions.all.filter { $0.kind == "waited" } == [.waited(seconds: 60, reason: "state check")])
        #expect(clock.now == 60)
    }

    @Test("Announced rules are range-checked: out-of-range values leave the vendor's rules")
    func announcedRules() throws {
        let sane = AnnouncedRules(health: try JSONValue.parse(Data(#"{"client_rules":{"stream_resume":true,"render_poll_interval_seconds":10,"render_max_polls":30,"client_stream_timeout_seconds":600}}"#.utf8)))
        #expect(sane == AnnouncedRules(streamResume: true, renderPollSeconds: 10, maxRenderPolls: 30, streamTimeoutSeconds: 600))
        let hostile = AnnouncedRules(health: try JSONValue.parse(Data(#"{"client_rules":{"stream_resume":"yes","render_poll_interval_seconds":-1,"render_max_polls":1e300,"client_stream_timeout_seconds":0}}"#.utf8)))
        #expect(hostile == AnnouncedRules())
    }

    @Test("2001 before the stream: the refusal, with its answer, and nothing sent again")
    func refused() async throws {
        let refusal = #"{"code": 2001, "message": "not enough credits", "data": null}"#
        let transport = ScriptedTransport([.answer(ScriptedTransport.json(200, Self.state)), .answer(ScriptedTransport.json(200, refusal))])
        let (client, _, _) = client(transport)
        let error = await #expect(throws: NemoError.self) { _ = try await client.sendAndWait("make a video") }
        #expect(error?.code == .outOfCredits && error?.response?.status == 200)
        #expect(error?.response.map { String(decoding: $0.body, as: UTF8.self) } == refusal)
        #expect(transport.requests.filter { $0.method == "POST" }.count == 1)
    }
}

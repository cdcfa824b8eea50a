import Foundation
import NemoCore
import ServerSentEvents
import Synchronization

/// What a message's stream reports, in order; `.finished` comes last.
public enum MessageEvent: Sendable {
    /// An agent event as it arrived (heartbeats included), with its event id.
    case agent(AgentEvent, eventID: String?)
    /// Still working after this many API seconds (every 2 minutes).
    case stillWorking(seconds: Double)
    /// The stream dropped; reconnecting (attempt n of the policy's limit).
    case reconnecting(attempt: Int, lastEventID: String)
    /// Polling state after a silent close or a lost stream.
    case pollingState
    case finished(MessageOutcome)
}

/// The events of one message, as an async sequence. Each iteration sends
/// the message once; an iterator that is dropped (a `break` out of the loop)
/// or whose task is cancelled aborts the transfer.
public struct MessageEvents: AsyncSequence, Sendable {
    public typealias Element = MessageEvent
    let client: NemoClient
    let text: String

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<MessageEvent, any Error>.Iterator
        let cancelOnDrop: CancelOnDeinit

        public mutating func next() async throws -> MessageEvent? {
            try await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        let (stream, continuation) = AsyncThrowingStream<MessageEvent, any Error>.makeStream()
        let client = self.client
        let text = self.text
        let task = Task {
            do {
                let outcome = try await client.runMessage(text) { continuation.yield($0) }
                continuation.yield(.finished(outcome))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return AsyncIterator(base: stream.makeAsyncIterator(), cancelOnDrop: CancelOnDeinit(task))
    }
}

/// Cancels a task when the last reference goes.
final class CancelOnDeinit: Sendable {
    let task: Task<Void, Never>
    init(_ task: Task<Void, Never>) { self.task = task }
    deinit { task.cancel() }
}

/// How a message ended.
public struct MessageOutcome: Sendable {
    public enum Ending: String, Sendable {
        /// The stream closed after text.
        case text
        /// The stream closed with no text; state was polled.
        case silentClose = "silent_close"
        /// The stream was lost for good; state was polled.
        case lost
        /// Heartbeats only for the policy's timeout.
        case timedOut = "timed_out"
    }

    public var ending: Ending
    /// The texts for the user, without the trailing temporary-issue notice.
    public var texts: [String]
    /// Every agent event received, heartbeats included.
    public var events: [AgentEvent]
    /// The state after polling (silent close, lost stream), when polled.
    public var state: SessionState?
    /// Whether polling saw the draft change (and every stage complete).
    public var stateChanged: Bool
    public var reconnects: Int
}

/// Progress shared between a stream's reader and its watchdog.
private final class StreamWatch: Sendable {
    struct State {
        var lastProgress: Double
        var lastNotice: Double
        var sawText = false
    }

    let state: Mutex<State>

    init(now: Double) {
        state = Mutex(State(lastProgress: now, lastNotice: now))
    }
}

extension NemoClient {
    /// Sends a message on `/run_sse` and streams what happens. Never re-sends
    /// the message: a dropped stream is resumed with `Last-Event-ID` (after
    /// 2 s, at most 3 times), then state is polled every 5 s; a stream that
    /// closes with no text is followed by state polls until the draft
    /// changes. The message is sent when iteration starts; leaving the loop
    /// or cancelling the consuming task aborts the transfer.
    public nonisolated func send(_ text: String) -> MessageEvents {
        MessageEvents(client: self, text: text)
    }

    /// Sends a message and waits for its outcome.
    public func sendAndWait(_ text: String, onEvent: @escaping @Sendable (MessageEvent) -> Void = { _ in }) async throws -> MessageOutcome {
        try await runMessage(text, emit: onEvent)
    }

    private enum StreamEnd: Sendable {
        case closed
        case dropped(any Error)
        case timedOut
        /// An answer that is not an event stream (an error envelope).
        case notAStream(HTTPResponse)
    }

    func runMessage(_ text: String, emit: @escaping @Sendable (MessageEvent) -> Void) async throws -> MessageOutcome {
        try await ensureToken()
        _ = try requireSession()
        let needsBaseline = policy.pollStateAfterSilentClose || policy.reconnectDroppedStream
        let baseline = needsBaseline ? (try? await state())?.draft : nil
        var lastEventID: String?
        var events: [AgentEvent] = []
        var texts: [String] = []
        var reconnects = 0
        var retriedBeforeStream = Set<Int>()
        let start = clock.now
        let watch = StreamWatch(now: start)

        while true {
            var extra: [(String, String)] = [(NemoHeader.accept, "text/event-stream")]
            if let lastEventID { extra.append((NemoHeader.lastEventID, lastEventID)) }
            let body = try jsonBody(RunSSERequest(text: text, sessionID: try requireSession()))
            let request = HTTPRequest(method: "POST", url: url(.runSSE), headers: headers(extra: extra), body: body, timeout: 900)
            let end = try await readStream(request, start: start, watch: watch, emit: emit) { event, id in
                if let id { lastEventID = id }
                events.append(event)
                if case .text(let content) = event, !event.isTemporaryIssueNotice { texts.append(content) }
            } onErrorBeforeStream: { response in
                // An envelope instead of a stream: nothing started, so the
                // 1001/1002/429 rules may retry it once each.
                let code = Self.envelopeCode(response)
                if code == .tokenInvalid, policy.renewTokenOn1001, !retriedBeforeStream.contains(1001) {
                    retriedBeforeStream.insert(1001)
                    _ = try await issueToken()
                    record(.renewedToken)
                    record(.retried(reason: "1001"))
                    return true
                }
                if code == .sessionNotFound, policy.newSessionOn1002, lastEventID == nil, !retriedBeforeStream.contains(1002) {
                    retriedBeforeStream.insert(1002)
                    let session = try await createSession()
                    record(.createdSession(session.sessionID))
                    record(.retried(reason: "1002"))
                    return true
                }
                if response.status == 429, policy.retryOn429, !retriedBeforeStream.contains(429) {
                    retriedBeforeStream.insert(429)
                    try await wait(policy.rateLimitWaitSeconds, reason: "429 rate limited")
                    record(.retried(reason: "429"))
                    return true
                }
                throw Self.streamError(response)
            }
            switch end {
            case nil:
                continue  // retried before the stream started
            case .closed:
                if !texts.isEmpty {
                    return MessageOutcome(ending: .text, texts: texts, events: events, state: nil, stateChanged: false, reconnects: reconnects)
                }
                guard policy.pollStateAfterSilentClose else {
                    return MessageOutcome(ending: .silentClose, texts: [], events: events, state: nil, stateChanged: false, reconnects: reconnects)
                }
                emit(.pollingState)
                let (state, changed) = try await pollUntilChanged(from: baseline)
                return MessageOutcome(ending: .silentClose, texts: [], events: events, state: state, stateChanged: changed, reconnects: reconnects)
            case .notAStream(let response):
                throw Self.streamError(response)
            case .timedOut:
                return MessageOutcome(ending: .timedOut, texts: texts, events: events, state: nil, stateChanged: false, reconnects: reconnects)
            case .dropped(let error):
                if policy.reconnectDroppedStream, let id = lastEventID, reconnects < policy.maxReconnects {
                    reconnects += 1
                    try await wait(policy.reconnectDelaySeconds, reason: "reconnect delay")
                    record(.reconnected(attempt: reconnects, lastEventID: id))
                    emit(.reconnecting(attempt: reconnects, lastEventID: id))
                    continue
                }
                guard policy.reconnectDroppedStream || policy.pollStateAfterSilentClose else {
                    throw NemoError(kind: .transport, message: "the event stream broke off: \(error)")
                }
                emit(.pollingState)
                let (state, changed) = try await pollUntilChanged(from: baseline)
                return MessageOutcome(ending: .lost, texts: texts, events: events, state: state, stateChanged: changed, reconnects: reconnects)
            }
        }
    }

    /// Reads one stream attempt. Returns nil when `onErrorBeforeStream` asked
    /// for a retry.
    private func readStream(
        _ request: HTTPRequest, start: Double, watch: StreamWatch, emit: @escaping @Sendable (MessageEvent) -> Void,
        onEvent: (AgentEvent, String?) -> Void, onErrorBeforeStream: (HTTPResponse) async throws -> Bool
    ) async throws -> StreamEnd? {
        let clock = self.clock
        let policy = self.policy
        let stream = transport.stream(request)
        watch.state.withLock { $0.lastProgress = clock.now }
        let (items, itemsContinuation) = AsyncStream<(AgentEvent, String?)>.makeStream()
        let end: StreamEnd = try await withThrowingTaskGroup(of: StreamEnd.self) { group in
            group.addTask {
                defer { itemsContinuation.finish() }
                var parser = ServerSentEventParser()
                var status = 0
                var isEventStream = false
                var errorBody = Data()
                do {
                    for try await part in stream {
                        switch part {
                        case .head(let code, let headers):
                            status = code
                            let type = headers.first { $0.name.lowercased() == "content-type" }?.value.lowercased() ?? ""
                            isEventStream = code == 200 && type.hasPrefix("text/event-stream")
                        case .body(let data):
                            guard isEventStream else {
                                errorBody.append(data)
                                continue
                            }
                            for item in parser.feed(data) {
                                var id: String?
                                if case .event(let event) = item, !event.lastEventID.isEmpty { id = event.lastEventID }
                                for event in AgentEventDecoder.events(from: item) {
                                    if event != .heartbeat {
                                        watch.state.withLock { state in
                                            state.lastProgress = clock.now
                                            if case .text = event, !event.isTemporaryIssueNotice { state.sawText = true }
                                        }
                                    }
                                    itemsContinuation.yield((event, id))
                                }
                            }
                        }
                    }
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    return .dropped(error)
                }
                return isEventStream ? .closed : .notAStream(HTTPResponse(status: status, headers: [], body: errorBody))
            }
            group.addTask {
                // The watchdog: "still working" every 2 minutes, a timeout
                // after heartbeats only for 10 minutes.
                let step = min(policy.stillWorkingEverySeconds, policy.heartbeatOnlyTimeoutSeconds) / 12
                while true {
                    try await clock.sleep(seconds: step)
                    let now = clock.now
                    let (timedOut, notice) = watch.state.withLock { state -> (Bool, Bool) in
                        if now - state.lastProgress >= policy.heartbeatOnlyTimeoutSeconds { return (true, false) }
                        if !state.sawText && now - state.lastNotice >= policy.stillWorkingEverySeconds {
                            state.lastNotice = now
                            return (false, true)
                        }
                        return (false, false)
                    }
                    if timedOut {
                        itemsContinuation.finish()
                        return .timedOut
                    }
                    if notice { emit(.stillWorking(seconds: (now - start).rounded())) }
                }
            }
            for await (event, id) in items {
                onEvent(event, id)
                emit(.agent(event, eventID: id))
            }
            // The first task to finish decides: the reader (closed, dropped,
            // not a stream) or the watchdog (timeout); the other is cancelled.
            let first = try await group.next() ?? .closed
            group.cancelAll()
            return first
        }
        if case .notAStream(let response) = end {
            if try await onErrorBeforeStream(response) { return nil }
        }
        return end
    }

    static func streamError(_ response: HTTPResponse) -> NemoError {
        if let envelope = try? JSONDecoder().decode(Envelope<JSONValue>.self, from: response.body), !envelope.isSuccess {
            return NemoError(kind: .api, code: envelope.code, httpStatus: response.status, message: envelope.message)
        }
        return NemoError(kind: .api, httpStatus: response.status, message: bodySummary(response))
    }

    /// Polls state every `statePollSeconds` until the draft differs from
    /// `baseline` and every stage is complete, at most `maxStatePolls` times.
    func pollUntilChanged(from baseline: Draft?) async throws -> (SessionState?, Bool) {
        var last: SessionState?
        for _ in 0..<policy.maxStatePolls {
            try await wait(policy.statePollSeconds, reason: "state poll interval")
            let current = try await state()
            last = current
            let changed = current.draft != baseline && current.allStagesCompleted
            record(.polledState(changed: changed))
            if changed { return (current, true) }
        }
        return (last, false)
    }
}

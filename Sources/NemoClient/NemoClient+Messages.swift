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
    /// Every agent event received but heartbeats (counted in
    /// ``heartbeats``, not kept: a stream may send them for hours).
    public var events: [AgentEvent]
    /// How many heartbeats came.
    public var heartbeats: Int = 0
    /// The state after polling (silent close, lost stream), when polled.
    public var state: SessionState?
    /// Whether polling saw the draft change (and every stage complete).
    public var stateChanged: Bool
    public var reconnects: Int
}

extension NemoClient {
    /// Sends a message on `/run_sse` and streams what happens, by the rules
    /// of skill 1.9: the message is never sent again once its stream began;
    /// a lost stream (dropped, or heartbeats only for 10 minutes) is
    /// followed by state checks after 30 s, then every 60 s, at most 5, then
    /// a ``NemoError`` (`streamLost`) that offers a retry; a stream that
    /// closes with no text is followed by a state check at once (then the
    /// same cadence) until the draft changes. Only a server that announces
    /// it resumes streams is sent `Last-Event-ID` first. The message is sent
    /// when iteration starts; leaving the loop or cancelling the consuming
    /// task aborts the transfer.
    public nonisolated func send(_ text: String) -> MessageEvents {
        MessageEvents(client: self, text: text)
    }

    /// Sends a message and waits for its outcome.
    public func sendAndWait(_ text: String, onEvent: @escaping @Sendable (MessageEvent) -> Void = { _ in }) async throws -> MessageOutcome {
        try await runMessage(text, emit: onEvent)
    }

    /// A stream's watchdog, shared by its reader and its timer.
    final class Watch: Sendable {
        let dog: Mutex<StreamWatchdog>
        init(_ dog: StreamWatchdog) { self.dog = Mutex(dog) }
    }

    private enum StreamEnd: Sendable {
        case closed
        case dropped(any Error)
        case timedOut
        /// An answer that is not an event stream (an error envelope).
        case notAStream(ClientResponse)
    }

    func runMessage(_ text: String, emit: @escaping @Sendable (MessageEvent) -> Void) async throws -> MessageOutcome {
        try await ensureToken()
        _ = try requireSession()
        let needsBaseline = policy.pollStateAfterSilentClose || policy.checkStateAfterLostStream
        let baseline = needsBaseline ? (try? await state())?.draft : nil
        var recovery = Recovery(policy: policy, call: .message, serverResumes: announced.streamResume)
        let streamTimeout = announced.streamTimeoutSeconds ?? policy.streamTimeoutSeconds
        var lastEventID: String?
        var resumeFrom: String?
        var events: [AgentEvent] = []
        var heartbeats = 0
        var texts: [String] = []
        var polled: (state: SessionState?, changed: Bool) = (nil, false)
        let watch = Watch(StreamWatchdog(policy: policy, start: clock.now))

        while true {
            var extra: [(String, String)] = [(NemoHeader.accept, "text/event-stream")]
            if let resumeFrom { extra.append((NemoHeader.lastEventID, resumeFrom)) }
            let body = try jsonBody(RunSSERequest(text: text, sessionID: try requireSession()))
            let request = ClientRequest(method: "POST", url: url(.runSSE), headers: headers(extra: extra), body: body, timeout: streamTimeout)
            // Each attempt's heartbeat-only wait counts from its own start.
            watch.dog.withLock { $0.restarted(at: clock.now) }
            let end = try await readStream(request, watch: watch, emit: emit) { event, id in
                if let id { lastEventID = id }
                if event == .heartbeat {
                    heartbeats += 1
                    return
                }
                events.append(event)
                if case .text(let content) = event, !event.isTemporaryIssueNotice { texts.append(content) }
            }
            var action: Recovery.Action
            var dropped: (any Error)?
            switch end {
            case .notAStream(let response):
                // An answer instead of a stream: nothing started.
                action = recovery.next(after: .answered(status: response.status, code: Self.envelopeCode(response)))
                if action == .accept { throw Self.streamError(response) }
            case .closed:
                action = recovery.next(after: .streamClosed(sawText: !texts.isEmpty))
            case .dropped(let error):
                dropped = error
                action = recovery.next(after: .streamDropped(lastEventID: lastEventID))
            case .timedOut:
                action = recovery.next(after: .streamTimedOut)
            }
            // Carry the actions out until one sends the message on again or ends it.
            while true {
                if try await carryOut(action) { break }
                switch action {
                case .reconnect(let attempt, let id, let delay):
                    try await wait(delay, reason: "reconnect delay")
                    record(.reconnected(attempt: attempt, lastEventID: id))
                    emit(.reconnecting(attempt: attempt, lastEventID: id))
                    resumeFrom = id
                    watch.dog.withLock { $0.restarted(at: clock.now) }
                case .pollState(let delay):
                    if polled.state == nil && !polled.changed { emit(.pollingState) }
                    if delay > 0 { try await wait(delay, reason: "state check") }
                    let current = try await state()
                    let changed = current.draft != baseline && current.allStagesCompleted
                    polled = (current, changed)
                    record(.polledState(changed: changed))
                    action = recovery.next(after: .stateChecked(changed: changed))
                    continue
                case .finish(let ending):
                    return MessageOutcome(
                        ending: ending, texts: texts, events: events, heartbeats: heartbeats, state: polled.state, stateChanged: polled.changed,
                        reconnects: recovery.reconnectCount)
                case .giveUp(let reason):
                    if recovery.policy.checkStateAfterLostStream {
                        throw NemoError(kind: .streamLost, message: "\(reason); send the message again to retry (a new, charged operation)")
                    }
                    throw NemoError(kind: .transport, message: "\(reason)" + (dropped.map { ": \($0)" } ?? ""))
                default:
                    // Nothing else follows a stream's end; never send the message again on a guess.
                    throw NemoError(kind: .protocolViolation, message: "internal error: no recovery step for \(action) after a stream")
                }
                break
            }
        }
    }

    /// The longest event-stream line or event data the client reads (a
    /// draft in a tool result is a few KiB): beyond it the stream stops.
    static let maximumEventBytes = 4 << 20
    /// The most events other than heartbeats one stream may send (a
    /// generation sends a few dozen).
    static let maximumEventsPerStream = 10_000
    /// The most bytes of an answer to `/run_sse` that is not a stream.
    static let maximumErrorBodyBytes = 1 << 20

    /// Reads one stream attempt: its events go to `onEvent` (and `emit`)
    /// as they arrive, while a watchdog tells the user "still working" and
    /// ends the attempt after heartbeats only for too long.
    private func readStream(
        _ request: ClientRequest, watch: Watch, emit: @escaping @Sendable (MessageEvent) -> Void,
        onEvent: (AgentEvent, String?) -> Void
    ) async throws -> StreamEnd {
        let clock = self.clock
        let stream = transport.stream(request)
        let checkInterval = watch.dog.withLock { $0.checkInterval }
        let (items, itemsContinuation) = AsyncStream<(AgentEvent, String?)>.makeStream()
        return try await withThrowingTaskGroup(of: StreamEnd.self) { group in
            group.addTask {
                defer { itemsContinuation.finish() }
                var parser = ServerSentEventParser(maximumEventBytes: Self.maximumEventBytes)
                var kept = 0
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
                                guard errorBody.count + data.count <= Self.maximumErrorBodyBytes else {
                                    throw NemoError(
                                        kind: .protocolViolation,
                                        message: "the answer to the message (HTTP \(status)) is not an event stream and passed \(Self.maximumErrorBodyBytes) bytes: stopped reading it")
                                }
                                errorBody.append(data)
                                continue
                            }
                            let items = parser.feed(data)
                            if parser.exceededLimit {
                                throw NemoError(
                                    kind: .protocolViolation,
                                    message: "the event stream sent a line or event over \(Self.maximumEventBytes) bytes: stopped reading it (the message may still be running: check the state)")
                            }
                            for item in items {
                                var id: String?
                                if case .event(let event) = item, !event.lastEventID.isEmpty { id = event.lastEventID }
                                for event in AgentEventDecoder.events(from: item) {
                                    if event != .heartbeat {
                                        kept += 1
                                        guard kept <= Self.maximumEventsPerStream else {
                                            throw NemoError(
                                                kind: .protocolViolation,
                                                message: "the event stream sent over \(Self.maximumEventsPerStream) events: stopped reading it (the message may still be running: check the state)")
                                        }
                                    }
                                    let now = clock.now
                                    watch.dog.withLock { $0.saw(event, at: now) }
                                    itemsContinuation.yield((event, id))
                                }
                            }
                        }
                    }
                } catch is CancellationError {
                    throw CancellationError()
                } catch let error as NemoError {
                    throw error
                } catch {
                    return .dropped(error)
                }
                return isEventStream ? .closed : .notAStream(ClientResponse(status: status, headers: [], body: errorBody))
            }
            // A policy with neither notices nor a timeout needs no watch.
            if checkInterval.isFinite { group.addTask { [self] in
                while true {
                    try await clock.sleep(seconds: checkInterval)
                    let now = clock.now
                    switch watch.dog.withLock({ $0.check(at: now) }) {
                    case .quiet: break
                    case .stillWorking(let seconds):
                        record(.saidStillWorking(seconds: seconds))
                        emit(.stillWorking(seconds: seconds))
                    case .timedOut:
                        itemsContinuation.finish()
                        return .timedOut
                    }
                }
            } }
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
    }

    static func streamError(_ response: ClientResponse) -> NemoError {
        if let envelope = try? JSONDecoder().decode(Envelope<JSONValue>.self, from: response.body), !envelope.isSuccess {
            return NemoError(kind: .api, code: envelope.code, httpStatus: response.status, message: envelope.message, response: response)
        }
        return NemoError(kind: .api, httpStatus: response.status, message: bodySummary(response), response: response)
    }
}

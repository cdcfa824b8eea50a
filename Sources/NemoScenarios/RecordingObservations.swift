import Foundation
import NemoCore
import NemoRecording
import NemoSimulator
import ServerSentEvents

/// What recordings show of the behaviour a profile models: heartbeat gaps,
/// how long each kind of work took, how often streams closed with no text,
/// failed or carried the "temporary issue" text, and the event dialect.
/// Read from every `/run_sse` exchange of the recordings (nemosim's own, with
/// each event's offset; a stream another tool recorded whole has no offsets
/// and counts for the ratios and the dialect only). Times are API seconds:
/// real milliseconds times the recording's time scale (1 for production).
public struct RecordingObservations: Sendable {
    /// The kind of work a stream did, told by its tool call: a tool whose
    /// name says `generate` is a generation, another tool an edit, none a reply.
    public enum Kind: String, Sendable, CaseIterable {
        case generation, edit, reply
    }

    /// Gaps between consecutive heartbeats while the work ran.
    public var heartbeatGaps: [Double] = []
    /// From the request to the tool result (or the reply's text), by kind.
    public var durations: [Kind: [Double]] = [:]
    /// Streams of each kind that ended normally, with and without text.
    public var completed: [Kind: Int] = [:]
    public var silent: [Kind: Int] = [:]
    /// Generations and edits that reported an error event.
    public var operations = 0
    public var failed = 0
    /// Completed streams with text, and those whose last text is the temporary-issue one.
    public var withText = 0
    public var temporaryIssues = 0
    /// Data events by dialect (`type` or `adk`), and how many carried an `id:` line.
    public var dialects: [SSEDialect: Int] = [:]
    public var events = 0
    public var eventsWithID = 0
    /// Streams read, and those left out (cut off, left by the client).
    public var streams = 0
    public var skippedStreams = 0
    public var recordings = 0
    public var exchanges = 0
    /// Submission to completion of each completed render job (API seconds).
    public var renderTimes: [Double] = []
    var renderSeen: Set<String> = []
    /// Token answers by the credits they gave.
    public var startingCredits: [Int: Int] = [:]
    /// Each recording's latency taken off its durations (API seconds).
    public var latencies: [Double] = []

    public init() {}

    /// The observations of some recordings.
    public init(_ recordings: [Recording]) {
        for recording in recordings { add(recording) }
    }

    /// The text a stream's trailing "temporary issue" message starts with.
    static let temporaryIssue = "I encountered a temporary issue"

    public mutating func add(_ recording: Recording) {
        recordings += 1
        exchanges += recording.entries.count
        let scale = recording.metadata?.timeScale.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 1
        // What the client saw late by: the median time of the recording's
        // plain API answers (request there, answer back), taken off each
        // duration, so that a recording of a simulator at a high time scale
        // (a millisecond is a second) or of a far server gives the server's
        // durations. None from fewer than 5 such answers.
        let plain = recording.entries.filter {
            !$0.isEventStream && $0.request.url.contains("/api/") && $0.response.status > 0 && $0.time.isFinite && $0.time >= 0
        }.map(\.time)
        let latency = plain.count >= 5 ? (Self.median(plain) ?? 0) / 1000 * scale : 0
        latencies.append(latency)
        // The credits a new anonymous account starts with, from token answers.
        for entry in recording.entries where entry.request.method == "POST" && entry.request.url.hasSuffix(Route.anonymousToken.template) {
            if let credits = DriftReport.json(entry)?["data"]?["credits"]?.intValue {
                startingCredits[credits, default: 0] += 1
            }
        }
        // Render jobs: from submission to completion (the answers' own
        // createdAt and completedAt, in the API's time), once per job.
        for entry in recording.entries where entry.request.url.contains("/api/render/proxy/lambda") {
            guard let data = DriftReport.json(entry)?["data"],
                let id = data["id"]?.stringValue, renderSeen.count < 100_000, !renderSeen.contains(id),
                let created = data["createdAt"]?.doubleValue, let completed = data["completedAt"]?.doubleValue,
                created.isFinite, completed.isFinite, completed >= created, completed - created < 86_400_000 * 365
            else { continue }
            renderSeen.insert(id)
            renderTimes.append((completed - created) / 1000)
        }
        for entry in recording.entries where entry.isEventStream && entry.request.url.hasSuffix("/run_sse") {
            guard let items = entry.replayedEventStream else { continue }
            switch entry.ending {
            case .dropped?, .failed?, .cancelled?:
                skippedStreams += 1
                continue
            case .closed?, nil:
                break
            }
            streams += 1
            add(items, timed: entry.eventStream != nil, scale: scale, latency: latency)
        }
    }

    mutating func add(_ items: [RecordedStreamItem], timed: Bool, scale: Double, latency: Double = 0) {
        var kind = Kind.reply
        var lastHeartbeat: Double?
        var workEnd: Double?
        var texts: [String] = []
        var failedHere = false
        for item in items {
            let seconds = item.offsetMs / 1000 * scale
            if item.kind == .event, let data = item.data, !data.isEmpty {
                events += 1
                if item.id != nil { eventsWithID += 1 }
                if let value = try? JSONValue.parse(Data(data.utf8)) {
                    if value["type"] != nil { dialects[.typed, default: 0] += 1 } else if value["content"] != nil || value["author"] != nil {
                        dialects[.adk, default: 0] += 1
                    }
                }
            }
            let decoded: [AgentEvent]
            switch item.kind {
            case .comment: decoded = [.heartbeat]
            case .retry: decoded = []
            case .event: decoded = AgentEventDecoder.events(fromData: item.data ?? "")
            }
            for event in decoded {
                switch event {
                case .heartbeat:
                    // Heartbeats beat while the work runs; after it they stop.
                    if timed, workEnd == nil, let last = lastHeartbeat { heartbeatGaps.append(seconds - last) }
                    lastHeartbeat = seconds
                case .toolCall(let name, _):
                    kind = name.lowercased().contains("generat") ? .generation : .edit
                case .toolResult:
                    if workEnd == nil { workEnd = seconds }
                case .text(let text):
                    texts.append(text)
                    if kind == .reply, workEnd == nil { workEnd = seconds }
                case .error:
                    failedHere = true
                    if workEnd == nil { workEnd = seconds }
                case .unknown:
                    break
                }
            }
        }
        if kind != .reply {
            operations += 1
            if failedHere { failed += 1 }
        }
        guard !failedHere else { return }
        completed[kind, default: 0] += 1
        let meaningful = texts.filter { !$0.hasPrefix(Self.temporaryIssue) }
        if meaningful.isEmpty && kind != .reply { silent[kind, default: 0] += 1 }
        if !texts.isEmpty {
            withText += 1
            if texts.last?.hasPrefix(Self.temporaryIssue) == true { temporaryIssues += 1 }
        }
        if timed, let workEnd { durations[kind, default: []].append(max(0, workEnd - latency)) }
    }

    /// The median of some values.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The range `[a, b]` of a uniform distribution that durations look
    /// drawn from (the profile draws them so): from the 10th and 90th
    /// percentiles, which a late event or two (a busy machine at a high time
    /// scale, a slow network) do not move as they move the extremes; from
    /// fewer than 10 values, the shortest and the longest.
    static func uniformRange(_ values: [Double]) -> (Double, Double)? {
        let sorted = values.sorted()
        guard let first = sorted.first, let last = sorted.last else { return nil }
        guard sorted.count >= 10 else { return (first, last) }
        func quantile(_ p: Double) -> Double {
            let position = p * Double(sorted.count - 1)
            let below = Int(position.rounded(.down))
            let above = min(below + 1, sorted.count - 1)
            return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
        }
        let q10 = quantile(0.1), q90 = quantile(0.9)
        let width = (q90 - q10) / 0.8
        return (max(0, q10 - 0.1 * width), q90 + 0.1 * width)
    }

    static func number(_ value: Double) -> String { value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value) }

    /// The dialect most data events were in, when any were.
    public var dialect: SSEDialect? { dialects.max { $0.value < $1.value }?.key }
}

/// One profile key as recordings show it: the value they give, how many
/// observations it rests on, and how they were read.
public struct ObservedKey: Sendable {
    public var key: String
    /// Nil when the recordings hold no evidence for the key.
    public var value: JSONValue?
    public var observations: Int
    public var basis: String
}

extension RecordingObservations {
    /// The profile keys the observations give (each with its evidence), in
    /// a fixed order; render times less the strict profile's queue.
    public var keys: [ObservedKey] { keys(renderQueueSeconds: BehaviourProfile().renderQueueSeconds) }

    /// The keys, render durations read as submission to completion less
    /// `renderQueueSeconds` (the profile's queue: what the answers cannot tell apart).
    public func keys(renderQueueSeconds: Double) -> [ObservedKey] {
        func ratio(_ part: Int, _ whole: Int) -> JSONValue? { whole > 0 ? .number((Double(part) / Double(whole) * 1000).rounded() / 1000) : nil }
        func range(_ values: [Double]?) -> JSONValue? {
            guard let (low, high) = values.flatMap(Self.uniformRange) else { return nil }
            return [.number((low * 100).rounded() / 100), .number((high * 100).rounded() / 100)]
        }
        let edits = completed[.edit] ?? 0
        let generations = completed[.generation] ?? 0
        return [
            ObservedKey(
                key: "heartbeat_interval_seconds", value: Self.median(heartbeatGaps).map { .number(($0 * 100).rounded() / 100) },
                observations: heartbeatGaps.count, basis: "median gap between heartbeats while the work ran"),
            ObservedKey(
                key: "initial_credits", value: startingCredits.max { ($0.value, -$0.key) < ($1.value, -$1.key) }.map { .number(Double($0.key)) },
                observations: startingCredits.values.reduce(0, +), basis: "credits in anonymous-token answers, the most frequent"),
            ObservedKey(key: "sse_dialect", value: dialect.map { .string($0.rawValue) }, observations: dialects.values.reduce(0, +), basis: "data events' shape"),
            ObservedKey(
                key: "sse_event_ids", value: events > 0 ? .bool(eventsWithID * 2 > events) : nil, observations: events,
                basis: "data events with an id: line"),
            ObservedKey(
                key: "silent_close_ratio", value: ratio(silent[.edit] ?? 0, edits), observations: edits, basis: "edits that closed with no text"),
            ObservedKey(
                key: "silent_generation_ratio", value: ratio(silent[.generation] ?? 0, generations), observations: generations,
                basis: "generations that closed with no text"),
            ObservedKey(
                key: "temporary_issue_ratio", value: ratio(temporaryIssues, withText), observations: withText,
                basis: "streams with text whose last text is the temporary-issue one"),
            ObservedKey(
                key: "operation_failure_ratio", value: ratio(failed, operations), observations: operations, basis: "generations and edits with an error event"),
            ObservedKey(
                key: "generation_duration_seconds", value: range(durations[.generation]), observations: durations[.generation]?.count ?? 0,
                basis: "request to tool result, as a uniform range from the 10th and 90th percentiles"),
            ObservedKey(
                key: "edit_duration_seconds", value: range(durations[.edit]), observations: durations[.edit]?.count ?? 0,
                basis: "request to tool result, as a uniform range from the 10th and 90th percentiles"),
            ObservedKey(
                key: "render_duration_seconds", value: range(renderTimes.isEmpty ? nil : renderTimes.map { max(0, $0 - renderQueueSeconds) }),
                observations: renderTimes.count,
                basis: "render jobs' completedAt - createdAt less the \(Self.number(renderQueueSeconds)) s queue, as a uniform range from the 10th and 90th percentiles"),
            ObservedKey(
                key: "reply_duration_seconds", value: range(durations[.reply]), observations: durations[.reply]?.count ?? 0,
                basis: "request to the reply's text, as a uniform range from the 10th and 90th percentiles"),
        ]
    }
}

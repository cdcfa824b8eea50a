import Foundation
import NemoClient
import NemoCore

/// One check on a response or a message outcome.
public enum Expectation: Sendable, Hashable {
    case status(Int)
    case code(Int)
    /// A JSON path (`data.files.0.file_type`) and a comparison.
    case json(path: String, check: JSONCheck)
    /// Agent event kinds that must appear (`tool_call`, `text`, ...).
    case eventsSeen([String])
    case textContains(String)
    case silentClose(Bool)
    case heartbeatsAtLeast(Int)
    /// No gap longer than this (simulated seconds) between heartbeats.
    case heartbeatGapAtMost(Double)
    /// The client did this on its own (a `ClientAction` description contains the text).
    case action(String)
    /// Simulated seconds the step took, at most.
    case durationAtMost(Double)
    /// Simulated seconds the step took, at least (a documented wait really happened).
    case durationAtLeast(Double)
    /// How the message ended: `text`, `silent_close`, `lost` or `timed_out`.
    case ending(String)
    /// Some text event of the stream, before the client's filtering, contains this.
    case streamTextContains(String)
    /// No text the client keeps for the user contains this.
    case textLacks(String)
    /// The step fails, with an error whose description contains this.
    case error(String)
}

public enum JSONCheck: Sendable, Hashable {
    case equals(JSONValue)
    case contains(String)
    /// The value's text does not contain this (absent counts as not containing).
    case lacks(String)
    case matches(String)
    case exists(Bool)
    case greaterThan(Double)
    case lessThan(Double)
    case atLeast(Double)
    case atMost(Double)
}

extension Expectation {
    /// The keys an `expect` mapping may have.
    static let kinds = [
        "status", "code", "json", "events", "text_contains", "text_lacks", "stream_text_contains", "silent_close", "ending",
        "heartbeats_at_least", "heartbeat_gap_at_most", "actions", "duration_at_most", "duration_at_least", "error",
    ]

    /// The expectations of one `expect` key, or an error naming the file and line.
    static func parse(_ key: String, _ value: YAMLValue, file: String) throws -> [Expectation] {
        func fail(_ message: String) -> ScenarioFileError { ScenarioFileError(file: file, line: value.line, message: message) }
        let json = value.json
        // `<key> needs <what>` when the value is not of the kind asked for.
        func string(_ what: String = "a string") throws -> String {
            guard let text = json.stringValue else { throw fail("\(key) needs \(what)") }
            return text
        }
        func number() throws -> Int {
            guard let number = json.intValue else { throw fail("\(key) needs a number") }
            return number
        }
        func seconds() throws -> Double {
            guard let seconds = json.doubleValue else { throw fail("\(key) needs seconds") }
            return seconds
        }
        switch key {
        case "status": return [.status(try number())]
        case "code": return [.code(try number())]
        case "events":
            guard let kinds = json.arrayValue?.compactMap(\.stringValue) else { throw fail("events needs a list of event kinds") }
            return [.eventsSeen(kinds)]
        case "text_contains": return [.textContains(try string())]
        case "silent_close":
            guard let flag = json.boolValue else { throw fail("silent_close needs true or false") }
            return [.silentClose(flag)]
        case "heartbeats_at_least": return [.heartbeatsAtLeast(try number())]
        case "heartbeat_gap_at_most": return [.heartbeatGapAtMost(try seconds())]
        case "action", "actions":
            let texts = json.arrayValue?.compactMap(\.stringValue) ?? json.stringValue.map { [$0] } ?? []
            guard !texts.isEmpty else { throw fail("actions needs text, e.g. \"waited 30 s\"") }
            return texts.map(Expectation.action)
        case "duration_at_most": return [.durationAtMost(try seconds())]
        case "duration_at_least": return [.durationAtLeast(try seconds())]
        case "ending":
            let endings = ["text", "silent_close", "lost", "timed_out"]
            guard let ending = json.stringValue, endings.contains(ending) else { throw fail("ending needs one of: \(endings.joined(separator: ", "))") }
            return [.ending(ending)]
        case "stream_text_contains": return [.streamTextContains(try string())]
        case "text_lacks": return [.textLacks(try string())]
        case "error": return [.error(try string("the text the step's error contains, e.g. \"broke off\""))]
        case "json":
            guard case .list(let items, _) = value else { throw fail("json needs a list of {path, equals|contains|lacks|matches|exists|gt|lt|gte|lte}") }
            return try items.map { item in
                let object = item.json
                guard let path = object["path"]?.stringValue else { throw ScenarioFileError(file: file, line: item.line, message: "a json check needs a path") }
                let check: JSONCheck
                if let expected = object["equals"] { check = .equals(expected) }
                else if let text = object["contains"]?.stringValue { check = .contains(text) }
                else if let text = object["lacks"]?.stringValue { check = .lacks(text) }
                else if let pattern = object["matches"]?.stringValue { check = .matches(pattern) }
                else if let exists = object["exists"]?.boolValue { check = .exists(exists) }
                else if let n = object["gt"]?.doubleValue { check = .greaterThan(n) }
                else if let n = object["lt"]?.doubleValue { check = .lessThan(n) }
                else if let n = object["gte"]?.doubleValue { check = .atLeast(n) }
                else if let n = object["lte"]?.doubleValue { check = .atMost(n) }
                else { throw ScenarioFileError(file: file, line: item.line, message: "json check on \(path) needs one of equals, contains, lacks, matches, exists, gt, lt, gte, lte") }
                return .json(path: path, check: check)
            }
        default:
            throw fail("unknown expectation \"\(key)\" (known: \(kinds.joined(separator: ", ")))")
        }
    }
}

/// What a step produced: its own action's result (the answer of its call,
/// a message's outcome, a download's description, or the error it failed
/// with) and what the client did on its own meanwhile. Expectations and
/// captures read this, and nothing else.
public struct StepResult: Sendable {
    /// The HTTP status of the step's own answer (after the client's
    /// recovery rules, the last one), when there was an answer.
    public var status: Int?
    /// That answer's JSON, or JSON describing the result (a download's
    /// `{status, bytes, sha256, mp4, body, code}`).
    public var json: JSONValue?
    /// How a message ended.
    public var outcome: MessageOutcome?
    /// The error the step failed with.
    public var error: NemoError?
    /// What the client did on its own during the step.
    public var actions: [ClientAction] = []
    /// Simulated seconds the step took.
    public var simulatedSeconds: Double?
    /// When each heartbeat arrived, in the client's API seconds.
    public var heartbeatTimes: [Double] = []

    /// The result of an answer (JSON parsed once).
    init(_ response: ClientResponse) {
        status = response.status
        json = try? JSONValue.parse(response.body)
        // A body that is not JSON (an event stream, a page) is `{"body": text}`,
        // its first MiB, for `json` checks on `body`.
        if json == nil, !response.body.isEmpty {
            json = ["body": .string(String(decoding: response.body.prefix(1 << 20), as: UTF8.self))]
        }
    }

    init(json: JSONValue? = nil, outcome: MessageOutcome? = nil) {
        self.json = json
        self.outcome = outcome
    }

    /// The value at a JSON path of the answer. `render.<field>` reads the
    /// answer as a render job in whichever documented shape it came
    /// (`render.id`, `render.status`, `render.progress`, `render.output_url`,
    /// `render.created_at`, `render.completed_at`), so that one scenario
    /// holds under every profile's render shape.
    public func value(atPath path: String) -> JSONValue? {
        guard path.hasPrefix("render."), let json else { return json?.value(atPath: path) }
        guard let job = try? json.decode(RenderJob.self) else { return nil }
        var view: [String: JSONValue] = ["status": .string(job.status.rawValue)]
        if let id = job.id { view["id"] = .string(id) }
        if let progress = job.progress { view["progress"] = .number(Double(progress)) }
        if let url = job.outputURL { view["output_url"] = .string(url) }
        if let created = job.createdAt { view["created_at"] = .number(Double(created)) }
        if let completed = job.completedAt { view["completed_at"] = .number(Double(completed)) }
        return JSONValue.object(["render": .object(view)]).value(atPath: path)
    }

    /// The result of a step that failed: the error, and the answer it came in.
    init(error: NemoError) {
        if let response = error.response {
            self.init(response)
        } else {
            self.init()
            status = error.httpStatus
        }
        self.error = error
    }
}

/// Checks expectations against a step's result.
struct CheckContext {
    var result: StepResult
    var status: Int? { result.status }
    var json: JSONValue? { result.json }
    var outcome: MessageOutcome? { result.outcome }
    var actions: [ClientAction] { result.actions }
    var simulatedSeconds: Double? { result.simulatedSeconds }
    var heartbeatTimes: [Double] { result.heartbeatTimes }
    var error: String? { result.error?.description }

    struct Failure {
        var expected: String
        var actual: String
        var message: String
    }

    func check(_ expectation: Expectation, variables: [String: JSONValue]) -> Failure? {
        func fail(_ expected: String, _ actual: String, _ message: String) -> Failure { Failure(expected: expected, actual: actual, message: message) }
        switch expectation {
        case .status(let expected):
            return status == expected ? nil : fail("HTTP \(expected)", status.map { "HTTP \($0)" } ?? "no response", "status differs")
        case .code(let expected):
            let code = json?["code"]?.intValue ?? (status.map { (200..<300).contains($0) } == true ? 0 : nil)
            return code == expected ? nil : fail("code \(expected)", code.map { "code \($0)" } ?? "no code", "envelope code differs")
        case .json(let path, let check):
            let value = result.value(atPath: path)
            let shown = value.map { $0.jsonString() } ?? "nothing there; the response was \(json.map { String($0.jsonString().prefix(300)) } ?? "not JSON")"
            switch check {
            case .equals(let expected):
                let wanted = ScenarioRunner.substitute(expected, variables)
                let same = value == wanted || (value?.doubleValue != nil && value?.doubleValue == wanted.doubleValue && wanted.stringValue == nil)
                return same ? nil : fail("\(path) = \(wanted.jsonString())", shown, "value differs")
            case .contains(let raw):
                let text = ScenarioRunner.substitute(raw, variables)
                return (value?.jsonString() ?? "").contains(text) ? nil : fail("\(path) contains \"\(text)\"", shown, "text not found")
            case .lacks(let raw):
                let text = ScenarioRunner.substitute(raw, variables)
                let found = (value?.stringValue ?? value?.jsonString() ?? "").contains(text)
                return found ? fail("\(path) lacks \"\(text)\"", shown, "unwanted text found") : nil
            case .matches(let raw):
                let pattern = ScenarioRunner.substitute(raw, variables)
                guard let value else { return fail("\(path) matches /\(pattern)/", shown, "no value") }
                let text = value.stringValue ?? value.jsonString()
                return text.range(of: pattern, options: .regularExpression) != nil ? nil : fail("\(path) matches /\(pattern)/", shown, "no match")
            case .exists(let flag):
                let exists = value != nil && value != .null
                return exists == flag ? nil : fail("\(path) \(flag ? "exists" : "absent")", shown, "presence differs")
            case .greaterThan(let n), .lessThan(let n), .atLeast(let n), .atMost(let n):
                guard let number = value?.doubleValue else { return fail("\(path) a number", shown, "not a number") }
                let ok: Bool
                let relation: String
                switch check {
                case .greaterThan: ok = number > n; relation = ">"
                case .lessThan: ok = number < n; relation = "<"
                case .atLeast: ok = number >= n; relation = ">="
                default: ok = number <= n; relation = "<="
                }
                return ok ? nil : fail("\(path) \(relation) \(n)", shown, "comparison failed")
            }
        case .eventsSeen(let kinds):
            let seen = Set(outcome?.events.map(\.kind) ?? []).union((outcome?.heartbeats ?? 0) > 0 ? ["heartbeat"] : [])
            let missing = kinds.filter { !seen.contains($0) }
            return missing.isEmpty ? nil : fail("events \(kinds.joined(separator: ", "))", "saw \(seen.sorted().joined(separator: ", "))", "missing \(missing.joined(separator: ", "))")
        case .textContains(let text):
            let texts = outcome?.texts.joined(separator: " ") ?? ""
            return texts.localizedCaseInsensitiveContains(text) ? nil : fail("text containing \"\(text)\"", "\"\(texts.prefix(200))\"", "text not found")
        case .silentClose(let flag):
            guard let outcome else { return fail("silent close \(flag)", "no message outcome", "not a message step") }
            let silent = outcome.ending == .silentClose
            return silent == flag ? nil : fail("silent close \(flag)", "ending \(outcome.ending.rawValue)", "ending differs")
        case .heartbeatsAtLeast(let count):
            let beats = outcome?.heartbeats ?? 0
            return beats >= count ? nil : fail("at least \(count) heartbeats", "\(beats)", "too few heartbeats")
        case .heartbeatGapAtMost(let limit):
            let gaps = zip(heartbeatTimes, heartbeatTimes.dropFirst()).map { $1 - $0 }
            let widest = gaps.max() ?? 0
            return widest <= limit ? nil : fail("heartbeat gaps of at most \(limit) s", String(format: "a gap of %.1f s", widest), "heartbeats too far apart")
        case .action(let text):
            // The kind's name (`renewed_token`), or words of the sentence (`waited 30 s`).
            let done = actions.contains { $0.kind == text || $0.description.contains(text) }
            let seen = actions.isEmpty ? "no action" : actions.map(\.description).joined(separator: "; ")
            return done ? nil : fail("the client to have \(text)", seen, "recovery differs")
        case .durationAtMost(let limit):
            guard let seconds = simulatedSeconds else { return fail("at most \(limit) simulated s", "no clock to measure the step", "duration unknown") }
            return seconds <= limit ? nil : fail("at most \(limit) simulated s", String(format: "%.1f s", seconds), "took too long")
        case .durationAtLeast(let limit):
            guard let seconds = simulatedSeconds else { return fail("at least \(limit) simulated s", "no clock to measure the step", "duration unknown") }
            return seconds >= limit ? nil : fail("at least \(limit) simulated s", String(format: "%.1f s", seconds), "ended too soon")
        case .ending(let expected):
            let ending = outcome?.ending.rawValue ?? "none (no message)"
            return ending == expected ? nil : fail("ending \(expected)", "ending \(ending)", "the message ended otherwise")
        case .streamTextContains(let text):
            let texts = (outcome?.events ?? []).compactMap { event -> String? in if case .text(let text) = event { return text } else { return nil } }
            let all = texts.joined(separator: " ")
            return all.localizedCaseInsensitiveContains(text) ? nil : fail("a streamed text containing \"\(text)\"", "\"\(all.prefix(200))\"", "text not streamed")
        case .error(let text):
            guard let error else { return fail("an error containing \"\(text)\"", "the step succeeded", "no error") }
            return error.localizedCaseInsensitiveContains(text) ? nil : fail("an error containing \"\(text)\"", error, "another error")
        case .textLacks(let text):
            guard let outcome else { return fail("no text containing \"\(text)\"", "no message outcome", "not a message step") }
            let texts = outcome.texts.joined(separator: " ")
            return texts.localizedCaseInsensitiveContains(text) ? fail("no text containing \"\(text)\"", "\"\(texts.prefix(200))\"", "unwanted text kept") : nil
        }
    }
}

import Foundation
import NemoClient
import NemoCore

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
    }

    init(json: JSONValue? = nil, outcome: MessageOutcome? = nil) {
        self.json = json
        self.outcome = outcome
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
            let value = json?.value(atPath: path)
            let shown = value.map { $0.jsonString() } ?? "nothing there; the response was \(json.map { String($0.jsonString().prefix(300)) } ?? "not JSON")"
            switch check {
            case .equals(let expected):
                let wanted = ScenarioRunner.substitute(expected, variables)
                let same = value == wanted || (value?.doubleValue != nil && value?.doubleValue == wanted.doubleValue && wanted.stringValue == nil)
                return same ? nil : fail("\(path) = \(wanted.jsonString())", shown, "value differs")
            case .contains(let text):
                return (value?.jsonString() ?? "").contains(text) ? nil : fail("\(path) contains \"\(text)\"", shown, "text not found")
            case .matches(let pattern):
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
            let seen = Set(outcome?.events.map(\.kind) ?? [])
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
            let beats = outcome?.events.filter { $0 == .heartbeat }.count ?? 0
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

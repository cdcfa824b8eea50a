import Foundation
import NemoCore
import Yams

/// A problem in a scenario file, with where it is.
public struct ScenarioFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// A YAML value with the line it starts on (for errors that point at it).
indirect enum YAMLValue {
    case scalar(JSONValue, line: Int)
    case map([(key: String, value: YAMLValue)], line: Int)
    case list([YAMLValue], line: Int)

    var line: Int {
        switch self {
        case .scalar(_, let line), .map(_, let line), .list(_, let line): return line
        }
    }

    init(_ node: Node) {
        let line = (node.mark?.line ?? 0)
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if let int = node.int { self = .scalar(.number(Double(int)), line: line); return }
                if let double = node.float, scalar.string.rangeOfCharacter(from: .letters) == nil { self = .scalar(.number(double), line: line); return }
                if let bool = node.bool { self = .scalar(.bool(bool), line: line); return }
                if node.null != nil { self = .scalar(.null, line: line); return }
            }
            self = .scalar(.string(scalar.string), line: line)
        case .mapping(let mapping):
            self = .map(mapping.map { (key: $0.key.string ?? "", value: YAMLValue($0.value)) }, line: line)
        case .sequence(let sequence):
            self = .list(sequence.map(YAMLValue.init), line: line)
        case .alias:
            self = .scalar(.null, line: line)
        }
    }

    /// As plain JSON (lines dropped).
    var json: JSONValue {
        switch self {
        case .scalar(let value, _): return value
        case .map(let pairs, _): return .object(Dictionary(pairs.map { ($0.key, $0.value.json) }, uniquingKeysWith: { _, last in last }))
        case .list(let items, _): return .array(items.map(\.json))
        }
    }

    subscript(key: String) -> YAMLValue? {
        if case .map(let pairs, _) = self { return pairs.first { $0.key == key }?.value }
        return nil
    }
}

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
    case matches(String)
    case exists(Bool)
    case greaterThan(Double)
    case lessThan(Double)
    case atLeast(Double)
    case atMost(Double)
}

/// What a step does.
public enum StepAction: Sendable, Hashable {
    case token, session, state, credits, render, pollRender(until: String), export(to: String?)
    case upload(files: [String], urls: [String])
    case message(String)
    case request(method: String, path: String, headers: [String: String], json: JSONValue?, multipart: [PartSpec]?)
    /// A GET whose body goes to a file (a render's outputUrl, the fallback download).
    case download(url: String, to: String?)
    // Simulator only (the admin API):
    case advanceClock(Double)
    case fault(JSONValue)
    case setCredits(Int)
    case profile(JSONValue)

    var needsSimulator: Bool {
        switch self {
        case .advanceClock, .fault, .setCredits, .profile: return true
        case .request(_, let path, _, _, _): return path.hasPrefix("/_nemosim/")
        default: return false
        }
    }

    var name: String {
        switch self {
        case .token: return "token"
        case .session: return "session"
        case .state: return "state"
        case .credits: return "credits"
        case .render: return "render"
        case .pollRender: return "poll_render"
        case .export: return "export"
        case .upload: return "upload"
        case .message: return "message"
        case .request(let method, let path, _, _, _): return "request \(method) \(path)"
        case .download: return "download"
        case .advanceClock(let seconds): return "advance_clock \(Int(seconds)) s"
        case .fault: return "fault"
        case .setCredits(let n): return "set_credits \(n)"
        case .profile: return "profile"
        }
    }
}

/// One part of a raw request's multipart body: a file (streamed) or a value.
public struct PartSpec: Sendable, Hashable {
    public var name: String
    /// A fixture path (relative to Fixtures/) or an absolute path.
    public var file: String?
    public var value: String?
    public var filename: String?
    public var contentType: String?
}

/// Repeat a step until its expectations hold.
public struct PollUntil: Sendable, Hashable {
    /// Simulated seconds between tries.
    public var interval: Double
    /// Tries at most.
    public var limit: Int
}

public struct Step: Sendable, Hashable {
    public var action: StepAction
    public var expectations: [Expectation]
    /// Variable name → JSON path in the response.
    public var captures: [String: String]
    public var line: Int
    /// Run the step this many times (each must meet the expectations).
    public var repeatCount: Int = 1
    /// Retry until the expectations hold.
    public var poll: PollUntil?
    /// Real seconds the step may take (each try).
    public var timeout: Double?
}

/// A scenario: a name, tags, and steps.
public struct Scenario: Sendable, Hashable {
    public var name: String
    public var tags: [String]
    /// Apply the client's recovery rules (default true).
    public var recovery: Bool
    public var steps: [Step]
    public var file: String
    public var line: Int

    /// Whether it needs the simulator's admin API.
    public var needsSimulator: Bool { steps.contains { $0.action.needsSimulator } }
}

/// Reads scenario files: one scenario per YAML document.
public enum ScenarioParser {
    public static func load(file: String) throws -> [Scenario] {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ScenarioFileError(file: file, line: 0, message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) throws -> [Scenario] {
        var scenarios: [Scenario] = []
        do {
            let parser = try Parser(yaml: text)
            while let node = try parser.nextRoot() {
                scenarios.append(try scenario(YAMLValue(node), file: file))
            }
        } catch let error as ScenarioFileError {
            throw error
        } catch let error as YamlError {
            throw ScenarioFileError(file: file, line: yamlLine(error), message: "not valid YAML: \(error)")
        } catch {
            throw ScenarioFileError(file: file, line: 0, message: "not valid YAML: \(error)")
        }
        if scenarios.isEmpty { throw ScenarioFileError(file: file, line: 1, message: "no scenario in the file") }
        return scenarios
    }

    static func yamlLine(_ error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return 0
        }
    }

    static let stepKinds = ["token", "session", "state", "credits", "render", "poll_render", "export", "upload", "message", "request",
        "download", "advance_clock", "fault", "set_credits", "profile"]

    static func scenario(_ value: YAMLValue, file: String) throws -> Scenario {
        func fail(_ line: Int, _ message: String) -> ScenarioFileError { ScenarioFileError(file: file, line: line, message: message) }
        guard case .map(let pairs, let line) = value else { throw fail(value.line, "a scenario is a mapping with name and steps") }
        for pair in pairs where !["name", "tags", "recovery", "steps", "description"].contains(pair.key) {
            throw fail(pair.value.line, "unknown scenario key \"\(pair.key)\" (known: name, tags, description, recovery, steps)")
        }
        guard let name = value["name"]?.json.stringValue, !name.isEmpty else { throw fail(line, "the scenario needs a name") }
        let tags = value["tags"]?.json.arrayValue?.compactMap(\.stringValue) ?? []
        let recovery = value["recovery"]?.json.boolValue ?? true
        guard case .list(let items, _)? = value["steps"], !items.isEmpty else {
            throw fail(value["steps"]?.line ?? line, "the scenario \"\(name)\" needs a non-empty list of steps")
        }
        return Scenario(name: name, tags: tags, recovery: recovery, steps: try items.map { try step($0, file: file) }, file: file, line: line)
    }

    static func step(_ value: YAMLValue, file: String) throws -> Step {
        func fail(_ line: Int, _ message: String) -> ScenarioFileError { ScenarioFileError(file: file, line: line, message: message) }
        guard case .map(let pairs, let line) = value else { throw fail(value.line, "a step is a mapping such as `- token: {}`") }
        let kinds = pairs.filter { stepKinds.contains($0.key) }
        guard kinds.count == 1, let kind = kinds.first else {
            throw fail(line, "a step needs exactly one of: \(stepKinds.joined(separator: ", "))")
        }
        for pair in pairs where !stepKinds.contains(pair.key) && !["expect", "capture", "repeat", "poll", "timeout"].contains(pair.key) {
            throw fail(pair.value.line, "unknown step key \"\(pair.key)\" (a step has one action, then expect, capture, repeat, poll, timeout)")
        }
        let arguments = kind.value.json
        let action: StepAction
        switch kind.key {
        case "token": action = .token
        case "session": action = .session
        case "state": action = .state
        case "credits": action = .credits
        case "render": action = .render
        case "poll_render": action = .pollRender(until: arguments["until"]?.stringValue ?? "completed")
        case "export": action = .export(to: arguments["to"]?.stringValue)
        case "upload":
            action = .upload(files: arguments["files"]?.arrayValue?.compactMap(\.stringValue) ?? [], urls: arguments["urls"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        case "message":
            guard let text = arguments.stringValue ?? arguments["text"]?.stringValue else { throw fail(kind.value.line, "message needs its text: `- message: \"make a video\"`") }
            action = .message(text)
        case "request":
            guard let method = arguments["method"]?.stringValue, let path = arguments["path"]?.stringValue else {
                throw fail(kind.value.line, "request needs method and path")
            }
            for key in (arguments.objectValue ?? [:]).keys where !["method", "path", "headers", "json", "multipart"].contains(key) {
                throw fail(kind.value.line, "unknown request key \"\(key)\" (known: method, path, headers, json, multipart)")
            }
            let headers = (arguments["headers"]?.objectValue ?? [:]).compactMapValues { $0.stringValue }
            var parts: [PartSpec]?
            if let multipart = arguments["multipart"] {
                guard let items = multipart.arrayValue, !items.isEmpty else {
                    throw fail(kind.value.line, "multipart needs a list of parts: [{name: files, file: media/clip.mp4}, {name: note, value: text}]")
                }
                guard arguments["json"] == nil else { throw fail(kind.value.line, "a request has json or multipart, not both") }
                parts = try items.map { item in
                    guard let name = item["name"]?.stringValue else { throw fail(kind.value.line, "each multipart part needs a name") }
                    let file = item["file"]?.stringValue
                    let value = item["value"]?.stringValue
                    guard (file == nil) != (value == nil) else {
                        throw fail(kind.value.line, "multipart part \"\(name)\" needs one of file (a path) or value (text)")
                    }
                    return PartSpec(
                        name: name, file: file, value: value, filename: item["filename"]?.stringValue,
                        contentType: item["content_type"]?.stringValue)
                }
            }
            action = .request(method: method.uppercased(), path: path, headers: headers, json: arguments["json"], multipart: parts)
        case "download":
            for key in (arguments.objectValue ?? [:]).keys where !["url", "to"].contains(key) {
                throw fail(kind.value.line, "unknown download key \"\(key)\" (known: url, to)")
            }
            guard let url = arguments.stringValue ?? arguments["url"]?.stringValue else {
                throw fail(kind.value.line, "download needs a url (absolute, or a path on the target): `- download: {url: \"${output_url}\"}`")
            }
            action = .download(url: url, to: arguments["to"]?.stringValue)
        case "advance_clock":
            guard let seconds = arguments.doubleValue ?? arguments["seconds"]?.doubleValue, seconds >= 0 else {
                throw fail(kind.value.line, "advance_clock needs seconds: `- advance_clock: 3600`")
            }
            action = .advanceClock(seconds)
        case "fault":
            guard arguments["respond"] != nil else { throw fail(kind.value.line, "fault needs respond, e.g. {match: {path: /api/credits/balance/simple}, respond: {code: 1001}}") }
            action = .fault(arguments)
        case "set_credits":
            guard let available = arguments.intValue ?? arguments["available"]?.intValue else { throw fail(kind.value.line, "set_credits needs a number") }
            action = .setCredits(available)
        default:
            guard case .object = arguments else { throw fail(kind.value.line, "profile needs a mapping of profile keys") }
            action = .profile(arguments)
        }
        var expectations: [Expectation] = []
        if let expect = value["expect"] {
            guard case .map(let checks, _) = expect else { throw fail(expect.line, "expect is a mapping") }
            for check in checks { expectations += try expectation(check.key, check.value, file: file) }
        }
        var captures: [String: String] = [:]
        if let capture = value["capture"] {
            guard case .map(let pairs, _) = capture else { throw fail(capture.line, "capture is a mapping of name: json.path") }
            for pair in pairs {
                guard let path = pair.value.json.stringValue else { throw fail(pair.value.line, "capture \(pair.key) needs a JSON path") }
                captures[pair.key] = path
            }
        }
        var step = Step(action: action, expectations: expectations, captures: captures, line: line)
        if let value = value["repeat"] {
            guard let count = value.json.intValue, count >= 1 else { throw fail(value.line, "repeat needs a count of 1 or more") }
            step.repeatCount = count
        }
        if let value = value["poll"] {
            guard let interval = value.json["interval"]?.doubleValue, interval >= 0, let limit = value.json["limit"]?.intValue, limit >= 1 else {
                throw fail(value.line, "poll needs {interval: SECONDS, limit: TRIES}")
            }
            guard !expectations.isEmpty else { throw fail(value.line, "poll repeats the step until its expectations hold: give it an expect") }
            step.poll = PollUntil(interval: interval, limit: limit)
        }
        if let value = value["timeout"] {
            guard let seconds = value.json.doubleValue, seconds > 0 else { throw fail(value.line, "timeout needs a number of seconds") }
            step.timeout = seconds
        }
        return step
    }

    static let expectationKinds = [
        "status", "code", "json", "events", "text_contains", "text_lacks", "stream_text_contains", "silent_close", "ending",
        "heartbeats_at_least", "heartbeat_gap_at_most", "actions", "duration_at_most", "duration_at_least", "error",
    ]

    static func expectation(_ key: String, _ value: YAMLValue, file: String) throws -> [Expectation] {
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
            guard case .list(let items, _) = value else { throw fail("json needs a list of {path, equals|contains|matches|exists|gt|lt|gte|lte}") }
            return try items.map { item in
                let object = item.json
                guard let path = object["path"]?.stringValue else { throw ScenarioFileError(file: file, line: item.line, message: "a json check needs a path") }
                let check: JSONCheck
                if let expected = object["equals"] { check = .equals(expected) }
                else if let text = object["contains"]?.stringValue { check = .contains(text) }
                else if let pattern = object["matches"]?.stringValue { check = .matches(pattern) }
                else if let exists = object["exists"]?.boolValue { check = .exists(exists) }
                else if let n = object["gt"]?.doubleValue { check = .greaterThan(n) }
                else if let n = object["lt"]?.doubleValue { check = .lessThan(n) }
                else if let n = object["gte"]?.doubleValue { check = .atLeast(n) }
                else if let n = object["lte"]?.doubleValue { check = .atMost(n) }
                else { throw ScenarioFileError(file: file, line: item.line, message: "json check on \(path) needs one of equals, contains, matches, exists, gt, lt, gte, lte") }
                return .json(path: path, check: check)
            }
        default:
            throw fail("unknown expectation \"\(key)\" (known: \(expectationKinds.joined(separator: ", ")))")
        }
    }
}

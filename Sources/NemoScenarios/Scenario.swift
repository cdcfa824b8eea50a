import Foundation
import NemoCore
import NemoSimulator
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
    /// The shipped profiles whose reading the scenario pins (nil: it holds
    /// under every profile). Against a simulator running another profile
    /// it is skipped; against production it runs if it pins `strict`.
    public var profiles: [String]?
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
            for node in try YAMLGuard.documents(text) {
                scenarios.append(try scenario(YAMLValue(node), file: file))
            }
        } catch let error as ScenarioFileError {
            throw error
        } catch let error as YAMLGuard.Refusal {
            throw ScenarioFileError(file: file, line: error.line, message: error.message)
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

    static func scenario(_ value: YAMLValue, file: String) throws -> Scenario {
        func fail(_ line: Int, _ message: String) -> ScenarioFileError { ScenarioFileError(file: file, line: line, message: message) }
        guard case .map(let pairs, let line) = value else { throw fail(value.line, "a scenario is a mapping with name and steps") }
        for pair in pairs where !["name", "tags", "recovery", "steps", "description", "profiles"].contains(pair.key) {
            throw fail(pair.value.line, "unknown scenario key \"\(pair.key)\" (known: name, tags, description, profiles, recovery, steps)")
        }
        guard let name = value["name"]?.json.stringValue, !name.isEmpty else { throw fail(line, "the scenario needs a name") }
        let tags = value["tags"]?.json.arrayValue?.compactMap(\.stringValue) ?? []
        let recovery = value["recovery"]?.json.boolValue ?? true
        guard case .list(let items, _)? = value["steps"], !items.isEmpty else {
            throw fail(value["steps"]?.line ?? line, "the scenario \"\(name)\" needs a non-empty list of steps")
        }
        var profiles: [String]?
        if let value = value["profiles"] {
            let names = value.json.arrayValue?.compactMap(\.stringValue) ?? []
            guard !names.isEmpty, names.count == value.json.arrayValue?.count else {
                throw fail(value.line, "profiles is a list of shipped profile names (\(BehaviourProfile.shippedNames.joined(separator: ", ")))")
            }
            for name in names where !BehaviourProfile.shippedNames.contains(name) {
                throw fail(value.line, "no shipped profile \"\(name)\" (shipped: \(BehaviourProfile.shippedNames.joined(separator: ", ")))")
            }
            profiles = names
        }
        return Scenario(
            name: name, tags: tags, recovery: recovery, profiles: profiles, steps: try items.map { try step($0, file: file) }, file: file, line: line)
    }

    static func step(_ value: YAMLValue, file: String) throws -> Step {
        func fail(_ line: Int, _ message: String) -> ScenarioFileError { ScenarioFileError(file: file, line: line, message: message) }
        guard case .map(let pairs, let line) = value else { throw fail(value.line, "a step is a mapping such as `- token: {}`") }
        let kinds = pairs.filter { StepAction.kinds.contains($0.key) }
        guard kinds.count == 1, let kind = kinds.first else {
            throw fail(line, "a step needs exactly one of: \(StepAction.kinds.joined(separator: ", "))")
        }
        for pair in pairs where !StepAction.kinds.contains(pair.key) && !["expect", "capture", "repeat", "poll", "timeout"].contains(pair.key) {
            throw fail(pair.value.line, "unknown step key \"\(pair.key)\" (a step has one action, then expect, capture, repeat, poll, timeout)")
        }
        let action = try StepAction.parse(kind.key, kind.value.json, line: kind.value.line, file: file)
        var expectations: [Expectation] = []
        if let expect = value["expect"] {
            guard case .map(let checks, _) = expect else { throw fail(expect.line, "expect is a mapping") }
            for check in checks { expectations += try Expectation.parse(check.key, check.value, file: file) }
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
            guard let count = value.json.intValue, (1...10_000).contains(count) else { throw fail(value.line, "repeat needs a count of 1 to 10000") }
            step.repeatCount = count
        }
        if let value = value["poll"] {
            guard let interval = value.json["interval"]?.doubleValue, (0...86_400).contains(interval), let limit = value.json["limit"]?.intValue,
                (1...10_000).contains(limit)
            else {
                throw fail(value.line, "poll needs {interval: SECONDS (0 to 86400), limit: TRIES (1 to 10000)}")
            }
            guard !expectations.isEmpty else { throw fail(value.line, "poll repeats the step until its expectations hold: give it an expect") }
            step.poll = PollUntil(interval: interval, limit: limit)
        }
        if let value = value["timeout"] {
            guard let seconds = value.json.doubleValue, seconds > 0, seconds <= 86_400 else {
                throw fail(value.line, "timeout needs a number of seconds (up to 86400)")
            }
            step.timeout = seconds
        }
        return step
    }
}

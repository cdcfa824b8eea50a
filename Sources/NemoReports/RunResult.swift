import Foundation

/// The result of a run of scenarios: what every report is a pure function of,
/// whether it came from a live run or from a recording.
public struct RunResult: Sendable, Hashable, Codable {
    /// `embedded`, a URL, or `replay:FILE`.
    public var target: String
    public var seed: UInt64?
    public var timeScale: Double?
    public var toolVersion: String
    /// ISO 8601.
    public var startedAt: String
    public var files: [ScenarioFileResult]

    public init(target: String, seed: UInt64? = nil, timeScale: Double? = nil, toolVersion: String, startedAt: String, files: [ScenarioFileResult]) {
        self.target = target
        self.seed = seed
        self.timeScale = timeScale
        self.toolVersion = toolVersion
        self.startedAt = startedAt
        self.files = files
    }

    public var scenarios: [ScenarioResult] { files.flatMap(\.scenarios) }
    public var passed: Int { files.map(\.passed).reduce(0, +) }
    public var failed: Int { files.map(\.failed).reduce(0, +) }
    public var errors: Int { files.map(\.errors).reduce(0, +) }
    public var skipped: Int { files.map(\.skipped).reduce(0, +) }
    /// Wall seconds.
    public var duration: Double { files.map(\.duration).reduce(0, +) }
}

/// The scenarios of one file.
public struct ScenarioFileResult: Sendable, Hashable, Codable {
    public var file: String
    /// The simulator profile the file ran under, when a run covered several.
    public var profile: String?
    public var scenarios: [ScenarioResult]

    public init(file: String, profile: String? = nil, scenarios: [ScenarioResult]) {
        self.file = file
        self.profile = profile
        self.scenarios = scenarios
    }

    public var duration: Double { scenarios.map(\.duration).reduce(0, +) }
    public var passed: Int { scenarios.filter { $0.outcome == .passed }.count }
    public var failed: Int { scenarios.filter { if case .failed = $0.outcome { return true } else { return false } }.count }
    public var errors: Int { scenarios.filter { if case .error = $0.outcome { return true } else { return false } }.count }
    public var skipped: Int { scenarios.filter { if case .skipped = $0.outcome { return true } else { return false } }.count }
    /// The suite name and the test cases' class: the file's path without
    /// its extension, dots for slashes (`a/smoke.yaml`: `a.smoke`), so that
    /// files of the same name in different folders stay apart. `./` is
    /// left out; each `..` is `__` (`../a/x.yaml` is `__.a.x`).
    public var name: String { Self.dottedName(file) }

    static func dottedName(_ path: String) -> String {
        ((path as NSString).deletingPathExtension as NSString).pathComponents.filter { $0 != "/" && $0 != "." }
            .map { $0 == ".." ? "__" : $0 }.joined(separator: ".")
    }
}

/// Where a failing expectation was and what it saw.
public struct StepFailure: Sendable, Hashable, Codable {
    /// e.g. `step 3 (message)`.
    public var step: String
    public var expected: String
    public var actual: String
    public var message: String

    public init(step: String, expected: String, actual: String, message: String) {
        self.step = step
        self.expected = expected
        self.actual = actual
        self.message = message
    }
}

/// Encoded flat, for readers of `--json` and of recorded runs:
/// `{"status": "passed"}`, `{"status": "failed", "step", "expected", "actual", "message"}`,
/// `{"status": "skipped", "reason"}`, `{"status": "error", "message"}`.
public enum ScenarioOutcome: Sendable, Hashable, Codable {
    case passed
    case failed(StepFailure)
    /// Not run, and why (e.g. it needs the simulator's admin API).
    case skipped(String)
    /// The scenario could not run as written (a transport error, a bad file).
    case error(String)

    enum CodingKeys: String, CodingKey { case status, reason, message }

    /// Swift's default shape, written by earlier builds of nemosim: `{"passed": {}}`, `{"failed": {"_0": {...}}}`.
    enum LegacyKeys: String, CodingKey { case passed, failed, skipped, error }
    enum LegacyValue: String, CodingKey { case value = "_0" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.contains(.status) else {
            let legacy = try decoder.container(keyedBy: LegacyKeys.self)
            if legacy.contains(.passed) { self = .passed; return }
            if legacy.contains(.failed) {
                self = .failed(try legacy.nestedContainer(keyedBy: LegacyValue.self, forKey: .failed).decode(StepFailure.self, forKey: .value))
                return
            }
            if legacy.contains(.skipped) {
                self = .skipped(try legacy.nestedContainer(keyedBy: LegacyValue.self, forKey: .skipped).decode(String.self, forKey: .value))
                return
            }
            self = .error(try legacy.nestedContainer(keyedBy: LegacyValue.self, forKey: .error).decode(String.self, forKey: .value))
            return
        }
        switch try container.decode(String.self, forKey: .status) {
        case "passed": self = .passed
        case "failed": self = .failed(try StepFailure(from: decoder))
        case "skipped": self = .skipped(try container.decode(String.self, forKey: .reason))
        case "error": self = .error(try container.decode(String.self, forKey: .message))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .status, in: container, debugDescription: "unknown outcome \"\(other)\"")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .passed: try container.encode("passed", forKey: .status)
        case .failed(let failure):
            try container.encode("failed", forKey: .status)
            try failure.encode(to: encoder)
        case .skipped(let reason):
            try container.encode("skipped", forKey: .status)
            try container.encode(reason, forKey: .reason)
        case .error(let message):
            try container.encode("error", forKey: .status)
            try container.encode(message, forKey: .message)
        }
    }
}

/// One scenario's result.
public struct ScenarioResult: Sendable, Hashable, Codable {
    public var name: String
    public var tags: [String]
    public var outcome: ScenarioOutcome
    /// Wall seconds.
    public var duration: Double
    /// Simulated API seconds the scenario covered, when known.
    public var simulatedSeconds: Double?
    /// What each step did, in order.
    public var log: [String]
    /// The line of its file where the scenario starts, when known.
    public var line: Int?

    public init(
        name: String, tags: [String] = [], outcome: ScenarioOutcome, duration: Double, simulatedSeconds: Double? = nil, log: [String] = [],
        line: Int? = nil
    ) {
        self.name = name
        self.tags = tags
        self.outcome = outcome
        self.duration = duration
        self.simulatedSeconds = simulatedSeconds
        self.log = log
        self.line = line
    }
}

extension RunResult {
    /// The result with `transform` applied to every text it holds (names,
    /// tags, step logs, failure details, skip reasons, the target, file
    /// paths); numbers, the seed included, and the structure unchanged. For
    /// redacting a run's secrets before it is stored or reported.
    public func mapStrings(_ transform: (String) -> String) -> RunResult {
        var copy = self
        copy.target = transform(target)
        copy.files = files.map { file in
            ScenarioFileResult(file: transform(file.file), scenarios: file.scenarios.map { $0.mapStrings(transform) })
        }
        return copy
    }
}

extension ScenarioResult {
    func mapStrings(_ transform: (String) -> String) -> ScenarioResult {
        var copy = self
        copy.name = transform(name)
        copy.tags = tags.map(transform)
        copy.log = log.map(transform)
        switch outcome {
        case .passed: break
        case .failed(let failure):
            copy.outcome = .failed(StepFailure(
                step: transform(failure.step), expected: transform(failure.expected), actual: transform(failure.actual),
                message: transform(failure.message)))
        case .skipped(let reason): copy.outcome = .skipped(transform(reason))
        case .error(let message): copy.outcome = .error(transform(message))
        }
        return copy
    }
}

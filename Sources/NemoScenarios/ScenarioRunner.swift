import Foundation
import NemoClient
import NemoCore
import NemoReports

/// Runs scenarios against a target URL through NemoClient.
public struct ScenarioRunner: Sendable {
    public var baseURL: String
    /// The transport underneath (curl by default; a recording decorator to record the run).
    public var transport: any HTTPTransport
    /// Where files named by upload steps are looked up (relative paths).
    public var fixturesDirectory: URL
    /// A token every scenario's client starts with (production: `NEMO_TOKEN`),
    /// so that steps needing one do not issue anonymous tokens, which are
    /// rate limited per IP. Explicit `token` steps still issue one.
    public var token: String?
    /// Skip scenarios that pin another profile's reading (`profiles:`).
    /// Off, every scenario runs: what a profile lets through shows as failures.
    public var honoursProfiles = true

    public init(baseURL: String, transport: any HTTPTransport, fixturesDirectory: URL, token: String? = nil) {
        self.baseURL = baseURL
        self.transport = transport
        self.fixturesDirectory = fixturesDirectory
        self.token = token
    }

    /// What the target is.
    public struct Target: Sendable, Hashable {
        /// It answers the simulator's admin API.
        public var simulator: Bool
        /// The shipped profile the simulator's profile starts from; nil
        /// for production, which is taken to follow `strict`.
        public var profileBase: String?

        /// A simulator whose admin API refused this run (HTTP 401 or 403):
        /// what it said. Its scenarios cannot run as written; a run stops
        /// (a usage error) rather than skip them.
        public var adminRefusal: String?

        /// The reading scenarios with `profiles:` are matched against.
        public var reading: String { profileBase ?? "strict" }

        public init(simulator: Bool, profileBase: String?, adminRefusal: String? = nil) {
            self.simulator = simulator
            self.profileBase = profileBase
            self.adminRefusal = adminRefusal
        }
    }

    /// How the skip of a scenario pinned to other readings begins: such a
    /// skip is by design (`--fail-on-skip` lets it pass).
    public static let pinnedSkip = "pins the reading of "

    /// Asks the target what it is (`/_nemosim/health`, public on a
    /// simulator) and whether its admin API answers this run
    /// (`/_nemosim/clock`).
    public func target() async -> Target {
        guard let response = try? await transport.send(ClientRequest(method: "GET", url: baseURL + "/_nemosim/health", timeout: 10)),
            response.status == 200, let health = try? JSONValue.parse(response.body), health["status"] == "ok",
            // A replay server's own health: answers from a recording, no admin API.
            health["mode"] != "replay"
        else { return Target(simulator: false, profileBase: nil) }
        var target = Target(simulator: true, profileBase: health["profile_base"]?.stringValue)
        if let clock = try? await transport.send(ClientRequest(method: "GET", url: baseURL + "/_nemosim/clock", timeout: 10)),
            clock.status == 401 || clock.status == 403
        {
            let message = (try? JSONValue.parse(clock.body))?["message"]?.stringValue ?? String(decoding: clock.body.prefix(200), as: UTF8.self)
            target.adminRefusal = "HTTP \(clock.status): \(message)"
        }
        return target
    }

    /// Whether the target answers the simulator's admin API.
    public func targetIsSimulator() async -> Bool {
        await target().simulator
    }

    /// Runs one scenario. Against a simulator, a scenario that changes the
    /// profile or arms faults leaves both as it found them.
    public func run(_ scenario: Scenario, simulator: Bool) async -> ScenarioResult {
        await run(scenario, on: Target(simulator: simulator, profileBase: nil))
    }

    /// Runs one scenario against `target`: skipped when it pins readings
    /// the target's profile does not take.
    public func run(_ scenario: Scenario, on target: Target) async -> ScenarioResult {
        if honoursProfiles, let pinned = scenario.profiles, !pinned.contains(target.reading) {
            let runs = target.profileBase.map { "the simulator runs \($0)" } ?? "the target is taken to follow strict"
            return ScenarioResult(
                name: scenario.name, tags: scenario.tags,
                outcome: .skipped(Self.pinnedSkip + "\(pinned.joined(separator: ", ")); \(runs)"), duration: 0)
        }
        let simulator = target.simulator
        let changesProfile = scenario.steps.contains { if case .profile = $0.action { return true } else { return false } }
        let armsFaults = scenario.steps.contains { if case .fault = $0.action { return true } else { return false } }
        var savedProfile: JSONValue?
        if simulator && changesProfile, let response = try? await transport.send(ClientRequest(method: "GET", url: baseURL + "/_nemosim/profile")) {
            savedProfile = try? JSONValue.parse(response.body)
        }
        let result = await runSteps(scenario, simulator: simulator)
        if simulator {
            if let savedProfile { _ = try? await admin("PATCH", "/profile", savedProfile) }
            if armsFaults { _ = try? await admin("DELETE", "/faults", nil) }
        }
        return result
    }

    func runSteps(_ scenario: Scenario, simulator: Bool) async -> ScenarioResult {
        let started = ContinuousClock.now
        if scenario.needsSimulator && !simulator {
            return ScenarioResult(
                name: scenario.name, tags: scenario.tags,
                outcome: .skipped("needs the simulator's admin API (clock, faults, credits or profile); the target is not a simulator"), duration: 0)
        }
        let actions = ActionList()
        let client = NemoClient(
            configuration: ClientConfiguration(baseURL: baseURL, token: token, clientID: UUID().uuidString), transport: transport,
            policy: scenario.recovery ? RecoveryPolicy() : .none, onAction: { actions.append($0) })
        await client.discoverTimeScale()
        // Built in: a value new for every run of the scenario (unique client ids and render ids).
        var variables: [String: JSONValue] = ["run_id": .string(UUID().uuidString.lowercased()), "base_url": .string(baseURL)]
        var log: [String] = []
        let simulatedStart: Double? = simulator ? await simulatedNow() : nil
        for (index, step) in scenario.steps.enumerated() {
            let label = "step \(index + 1) (\(step.action.name), line \(step.line))"
            let tries = step.poll?.limit ?? step.repeatCount
            for attemptNumber in 1...tries {
                let attempt = await self.attempt(
                    step, label: label, client: client, variables: variables, actions: actions, simulator: simulator)
                if let failure = attempt.failure {
                    // Polling: wait and try again until the expectations hold.
                    if let poll = step.poll, attemptNumber < tries {
                        try? await client.clock.sleep(seconds: poll.interval)
                        continue
                    }
                    let known = [token, await client.token].compactMap { $0 }
                    let reported = Self.masked(step.poll == nil ? failure : StepFailure(
                        step: failure.step, expected: failure.expected, actual: failure.actual,
                        message: "still failing after \(tries) tries, \(step.poll!.interval) s apart: \(failure.message)"), known: known)
                    log.append("\(label): FAILED \(reported.expected) vs \(reported.actual)")
                    return ScenarioResult(
                        name: scenario.name, tags: scenario.tags, outcome: .failed(reported), duration: seconds(since: started), log: log)
                }
                for (name, value) in attempt.captured { variables[name] = value }
                log.append(Self.masked(attempt.logLine, known: [token, await client.token].compactMap { $0 }) + (tries > 1 ? " (try \(attemptNumber))" : ""))
                if step.poll != nil { break }
            }
        }
        var covered: Double?
        if let start = simulatedStart, let end = await simulatedNow() { covered = end - start }
        return ScenarioResult(name: scenario.name, tags: scenario.tags, outcome: .passed, duration: seconds(since: started), simulatedSeconds: covered, log: log)
    }

    /// Failure text with every API token masked: reports go to terminals,
    /// CI logs, JUnit files and step summaries, and a failing check on a
    /// token response would otherwise show the token. `known` are the exact
    /// tokens the scenario used (whatever their shape).
    static func masked(_ failure: StepFailure, known: [String] = []) -> StepFailure {
        StepFailure(
            step: masked(failure.step, known: known), expected: masked(failure.expected, known: known),
            actual: masked(failure.actual, known: known), message: masked(failure.message, known: known))
    }

    /// Masks the known tokens, then anything shaped like one: `nmv_usr_`
    /// and at least six token characters (letters, digits, `_-.+/=`).
    public static func masked(_ text: String, known: [String] = []) -> String {
        var text = text
        for token in known where token.count >= 6 { text = text.replacingOccurrences(of: token, with: userTokenPrefix + "…") }
        guard text.contains(userTokenPrefix) else { return text }
        func isTokenCharacter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || "_-.+/=".contains(c)) }
        var result = ""
        var rest = Substring(text)
        while let range = rest.range(of: userTokenPrefix) {
            result += rest[..<range.lowerBound]
            let body = rest[range.upperBound...].prefix(while: isTokenCharacter)
            if body.count >= 6 || body.hasPrefix("REDACTED") {
                result += userTokenPrefix + "…"
                rest = rest[body.endIndex...]
            } else {
                result += userTokenPrefix
                rest = rest[range.upperBound...]
            }
        }
        return result + rest
    }

    /// One try of a step: perform it (within its timeout) and check what
    /// it produced.
    func attempt(
        _ step: Step, label: String, client: NemoClient, variables: [String: JSONValue], actions: ActionList, simulator: Bool
    ) async -> (failure: StepFailure?, captured: [String: JSONValue], logLine: String) {
        _ = actions.take()
        // Step durations in simulated time: the simulator's clock, or
        // elsewhere the client's (real time against production).
        let clientClock = await client.clock
        let stepStart = simulator ? await simulatedNow() : clientClock.now
        let beats = HeartbeatTimes()
        var result: StepResult
        do {
            result = try await withTimeout(step.timeout, label: label) {
                try await perform(step.action, client: client, variables: variables, beats: beats)
            }
        } catch let error as NemoError {
            result = StepResult(error: error)
        } catch {
            result = StepResult(error: NemoError(kind: .transport, message: "\(error)"))
        }
        let stepEnd = simulator ? await simulatedNow() : clientClock.now
        result.simulatedSeconds = stepStart.flatMap { start in stepEnd.map { $0 - start } }
        result.actions = actions.take()
        result.heartbeatTimes = beats.times
        // A step that failed with an API error passes when it expected that code or status.
        let expectsError = step.expectations.contains {
            switch $0 {
            case .code(let code): return code != 0
            case .status(let status): return !(200..<300).contains(status)
            case .error: return true
            default: return false
            }
        }
        if let thrown = result.error, !expectsError {
            return (StepFailure(step: label, expected: "success", actual: thrown.description, message: "the step failed"), [:], "\(label): error: \(thrown)")
        }
        let context = CheckContext(result: result)
        for expectation in step.expectations {
            if let failure = context.check(expectation, variables: variables) {
                return (StepFailure(step: label, expected: failure.expected, actual: failure.actual, message: failure.message), [:], "")
            }
        }
        var captured: [String: JSONValue] = [:]
        for (name, path) in step.captures {
            guard let value = result.value(atPath: path) else {
                return (StepFailure(step: label, expected: "a value at \(path) to capture as \(name)", actual: "nothing there", message: "capture failed"), [:], "")
            }
            captured[name] = value
        }
        let answer = result.status.map { " (HTTP \($0)" + (result.json?["code"]?.intValue.map { ", code \($0)" } ?? "") + ")" } ?? ""
        let line = "\(label): ok" + answer + (result.outcome.map { " [\($0.ending.rawValue), \($0.events.count) events, \($0.heartbeats) heartbeats]" } ?? "")
        return (nil, captured, line)
    }

    /// Runs `body`, failing with a clear error after `seconds` of real time.
    func withTimeout<T: Sendable>(_ seconds: Double?, label: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let seconds else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(clamping: seconds))
                return nil
            }
            guard let first = try await group.next() else { throw CancellationError() }
            group.cancelAll()
            guard let value = first else {
                throw NemoError(kind: .usage, message: "\(label) did not finish within its timeout of \(seconds) s")
            }
            return value
        }
    }

    func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).inSeconds
    }

    /// The simulator's clock, in seconds since 1970.
    func simulatedNow() async -> Double? {
        guard let response = try? await transport.send(ClientRequest(method: "GET", url: baseURL + "/_nemosim/clock", timeout: 10)),
            let now = (try? JSONValue.parse(response.body))?["now"]?.stringValue, let date = ISO8601.date(from: now)
        else { return nil }
        return date.timeIntervalSince1970
    }
}

import Foundation
import Synchronization
import NemoClient
import NemoCore
import NemoRecording
import NemoReports
import NemoResources
import NemoSimulator

/// A run of scenario files against a target, as a library call: what
/// `nemosim run` and `nemosim conformance` do between parsing their options
/// and printing. In a Swift test:
///
/// ```swift
/// let files = try ScenarioSuite.load(["Fixtures/scenarios/tokens.yaml"])
/// let run = try await ScenarioSuite(target: .embedded()).run(files)
/// #expect(run.result.failed == 0)
/// ```
public struct ScenarioSuite: Sendable {
    /// What the scenarios run against.
    public enum Target: Sendable {
        /// A simulator started in this process for the run, and stopped after it.
        case embedded(seed: UInt64 = 1, timeScale: Double = 1000, profile: BehaviourProfile = BehaviourProfile())
        /// A server at this URL (a simulator elsewhere, or production).
        /// `token`: every scenario's starting token (only ever sent over https).
        case url(String, token: String? = nil)
        /// A recording, answered by a replay server started for the run.
        case replay(Recording, timing: ReplayTiming = .recorded(timeScale: 1))
    }

    /// Why a run could not start (the CLI's exit 2).
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// One file's scenarios.
    public typealias File = (path: String, scenarios: [Scenario])

    /// What a run produced.
    public struct Run: Sendable {
        /// The results, redacted when the run was recorded.
        public var result: RunResult
        /// Simulated API seconds the scenarios covered.
        public var simulatedSeconds: Double
        public var wallSeconds: Double
    }

    /// Hears about scenarios as they start and finish (a progress line).
    public protocol Observer: Sendable {
        func started(_ scenario: Scenario)
        func finished(_ result: ScenarioResult, file: String)
    }

    public var target: Target
    /// How the target is named in reports (`embedded`, the URL, `replay:FILE`).
    public var targetName: String
    /// Up to this many scenarios at once (those using the admin API run alone).
    public var parallel: Int
    /// Where every exchange and the results are recorded, if anywhere.
    public var recording: RecordingWriter?
    /// Files named by upload steps are looked up here.
    public var fixturesDirectory: URL
    /// The bearer token of a simulator's admin API (`serve --admin-token`),
    /// sent on admin calls only and never recorded.
    public var adminToken: String?
    /// What a run changed on its target that it puts back at its end (the
    /// per-address limits): ``Undo/run()`` puts it back now, for a run that
    /// is interrupted (the CLI calls it on Ctrl-C).
    public let undo = Undo()

    /// A change to put back, at most once.
    public final class Undo: Sendable {
        private let action = Mutex<(@Sendable () async -> Void)?>(nil)
        public init() {}
        func set(_ undo: @escaping @Sendable () async -> Void) { action.withLock { $0 = undo } }
        /// Puts the change back (once; later calls do nothing).
        public func run() async {
            let taken = action.withLock { taken in
                defer { taken = nil }
                return taken
            }
            await taken?()
        }
    }
    /// The transport underneath (libcurl unless a test gives another).
    public var transport: any HTTPTransport
    /// Skip scenarios that pin readings the target's profile does not take
    /// (their `profiles:`); off, they run, and show what the profile lets through.
    public var honoursProfiles = true

    public init(
        target: Target, targetName: String? = nil, parallel: Int = 1, recording: RecordingWriter? = nil,
        fixturesDirectory: URL = ScenarioSuite.fixturesDirectory(), transport: (any HTTPTransport)? = nil
    ) {
        self.target = target
        switch target {
        case .embedded: self.targetName = targetName ?? "embedded"
        case .url(let url, _): self.targetName = targetName ?? url
        case .replay: self.targetName = targetName ?? "replay"
        }
        self.parallel = max(1, parallel)
        self.recording = recording
        self.fixturesDirectory = fixturesDirectory
        self.transport = transport ?? CurlTransport()
    }

    /// Scenario files under the given files and folders (YAML files of a
    /// folder, sorted), parsed; the first broken file is thrown
    /// (``ScenarioFileError``: file, line, what is wrong).
    public static func load(_ paths: [String], tags: Set<String>? = nil) throws -> [File] {
        var files: [File] = []
        for path in try scenarioFiles(paths) {
            var scenarios = try ScenarioParser.load(file: path)
            if let tags { scenarios = scenarios.filter { !Set($0.tags).isDisjoint(with: tags) } }
            if !scenarios.isEmpty { files.append((path, scenarios)) }
        }
        return files
    }

    static func scenarioFiles(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ScenarioFileError(file: path, line: 0, message: "no such file or folder")
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                files += names.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        return files
    }

    /// The built-in conformance suite, from inside the binary: its files
    /// (named as in nemosim's package, `Fixtures/scenarios/tokens.yaml`),
    /// and a new temporary folder holding the media its upload steps name,
    /// for the caller to remove after the run.
    public static func builtIn(tags: Set<String>? = nil) throws -> (files: [File], fixtures: URL) {
        var files: [File] = []
        for name in EmbeddedResources.names(under: "Fixtures/scenarios") where name.hasSuffix(".yaml") {
            guard let data = EmbeddedResources.data(name) else { continue }
            var scenarios = try ScenarioParser.parse(String(decoding: data, as: UTF8.self), file: name)
            if let tags { scenarios = scenarios.filter { !Set($0.tags).isDisjoint(with: tags) } }
            if !scenarios.isEmpty { files.append((name, scenarios)) }
        }
        let fixtures = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-fixtures-\(UUID().uuidString)")
        do {
            try EmbeddedResources.extract("Fixtures/media", into: fixtures.appendingPathComponent("media"))
        } catch {
            try? FileManager.default.removeItem(at: fixtures)
            throw ScenarioFileError(file: fixtures.path, line: 0, message: "cannot write the built-in suite's media here: \(error.localizedDescription)")
        }
        return (files, fixtures)
    }

    /// The repository's Fixtures folder, found from the current folder or the binary's.
    public static func fixturesDirectory() -> URL {
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(binary)
            binary = binary.deletingLastPathComponent()
        }
        for candidate in candidates {
            let fixtures = candidate.appendingPathComponent("Fixtures")
            if FileManager.default.fileExists(atPath: fixtures.appendingPathComponent("scenarios").path) { return fixtures }
        }
        return URL(fileURLWithPath: "Fixtures")
    }

    /// Runs the files' scenarios: those that reach the admin API (clock,
    /// profile, faults) one at a time, after the others, which run up to
    /// ``parallel`` at once. Results keep the files' order. The server
    /// started for an embedded or replay target is stopped after.
    public func run(_ files: [File], observer: (any Observer)? = nil) async throws -> Run {
        var server: SimulatorServer?
        var replay: ReplayServer?
        let baseURL: String
        var token: String?
        switch target {
        case .embedded(let seed, let timeScale, let profile):
            // The profile as given: what the scenarios need is set through
            // the admin API below, as for a simulator elsewhere.
            do {
                server = try await SimulatorServer.start(.init(seed: seed, timeScale: timeScale, profile: profile))
            } catch {
                throw SetupError(description: "\(error)")
            }
            baseURL = server!.url
        case .replay(let recording, let timing):
            do {
                replay = try await ReplayServer.start(recording: recording, timing: timing)
            } catch {
                throw SetupError(description: "\(error)")
            }
            baseURL = replay!.url
        case .url(let url, let given):
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw SetupError(description: "\(url) is not an http(s) URL")
            }
            baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            // Nothing runs against a target that does not answer at all.
            do {
                _ = try await transport.send(ClientRequest(method: "GET", url: baseURL + "/", timeout: 15))
            } catch {
                throw SetupError(description: "cannot reach \(baseURL): \(error)")
            }
            // A token is never sent in the clear.
            token = baseURL.lowercased().hasPrefix("https://") ? given : nil
        }
        // The admin token under the recorder: it never reaches a recording.
        let unrecorded: any HTTPTransport = adminToken.map { AdminTokenTransport(base: self.transport, baseURL: baseURL, token: $0) } ?? self.transport
        var transport = unrecorded
        if let recording { transport = RecordingTransport(base: transport, writer: recording) }
        var configured = ScenarioRunner(baseURL: baseURL, transport: transport, fixturesDirectory: fixturesDirectory, token: token)
        configured.honoursProfiles = honoursProfiles
        let runner = configured
        let target = await runner.target()
        if let refusal = target.adminRefusal {
            await server?.stop()
            await replay?.stop()
            throw SetupError(
                description: "\(baseURL) is a nemosim simulator, but its admin API refused this run (\(refusal)); "
                    + (refusal.hasPrefix("HTTP 403")
                        ? "start it with --admin-token-file FILE (or $NEMOSIM_ADMIN_TOKEN) and give the same token here, or run from the same machine"
                        : adminToken == nil
                            ? "give the token it was started with (--admin-token-file FILE, or $NEMOSIM_ADMIN_TOKEN)"
                            : "check that the admin token is the one it was started with"))
        }
        // Every scenario signs in from the same address: the per-address
        // token limits are lifted for the run (the rate-limit scenarios set
        // their own) and put back after it. Not recorded: a replay of the
        // run needs none of it.
        if target.simulator, replay == nil {
            let setup = ScenarioRunner(baseURL: baseURL, transport: unrecorded, fixturesDirectory: fixturesDirectory)
            do {
                let lifted = try await setup.liftPerAddressLimits()
                undo.set {
                    do {
                        try await setup.admin("PATCH", "/profile", lifted)
                    } catch {
                        FileHandle.standardError.write(Data("nemosim: could not put back the per-address token limits of \(baseURL): \(error)\n".utf8))
                    }
                }
            } catch {
                await server?.stop()
                throw SetupError(description: "\(baseURL): could not set the profile the scenarios need through the admin API: \(error)")
            }
        }
        let wallStart = ContinuousClock.now
        let all = files.flatMap { file in file.scenarios.map { (file: file.path, scenario: $0) } }
        var outcomes = [ScenarioResult?](repeating: nil, count: all.count)
        // Scenarios that reach the admin API change what others see: they run alone.
        let shared = all.indices.filter { !all[$0].scenario.needsSimulator }
        var next = 0
        await withTaskGroup(of: (Int, ScenarioResult).self) { group in
            func launch() {
                guard next < shared.count else { return }
                let position = shared[next]
                next += 1
                let scenario = all[position].scenario
                observer?.started(scenario)
                group.addTask { (position, await runner.run(scenario, on: target)) }
            }
            for _ in 0..<parallel { launch() }
            while let (position, result) = await group.next() {
                outcomes[position] = result
                observer?.finished(result, file: all[position].file)
                launch()
            }
        }
        for position in all.indices where all[position].scenario.needsSimulator {
            observer?.started(all[position].scenario)
            let result = await runner.run(all[position].scenario, on: target)
            outcomes[position] = result
            observer?.finished(result, file: all[position].file)
        }
        var results: [ScenarioFileResult] = []
        var start = 0
        for file in files {
            let scenarios = zip(file.scenarios, outcomes[start..<start + file.scenarios.count]).compactMap { scenario, outcome in
                outcome.map { outcome in
                    var outcome = outcome
                    outcome.line = scenario.line
                    return outcome
                }
            }
            results.append(ScenarioFileResult(file: file.path, scenarios: scenarios))
            start += file.scenarios.count
        }
        let simulated = results.flatMap(\.scenarios).compactMap(\.simulatedSeconds).reduce(0, +)
        let wall = (ContinuousClock.now - wallStart).inSeconds
        var seed: UInt64?
        var timeScale: Double?
        if case .embedded(let s, let t, _) = self.target { (seed, timeScale) = (s, t) }
        var result = RunResult(
            target: targetName, seed: seed, timeScale: timeScale, toolVersion: NemosimVersion.current, startedAt: Date().formatted(.iso8601),
            files: results)
        if let recording {
            // Redacted once, for the recording and this run's own reports
            // alike: a report made from the recording later is the same file.
            result = recording.setScenarioResults(result)
        }
        await undo.run()
        await server?.stop()
        await replay?.stop()
        return Run(result: result, simulatedSeconds: simulated, wallSeconds: wall)
    }

    /// The runs of one suite under several profiles as one run, each file
    /// marked with its profile (one JUnit suite per profile).
    public static func merged(_ runs: [(profile: String, run: Run)]) -> Run? {
        guard var first = runs.first?.run else { return nil }
        first.result.files = runs.flatMap { entry in
            entry.run.result.files.map { file in
                var file = file
                file.profile = entry.profile
                return file
            }
        }
        first.simulatedSeconds = runs.map(\.run.simulatedSeconds).reduce(0, +)
        first.wallSeconds = runs.map(\.run.wallSeconds).reduce(0, +)
        return first
    }
}

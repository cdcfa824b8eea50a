import ArgumentParser
import Foundation
import NemoClient
import NemoCore
import NemoRecording
import NemoReports
import NemoScenarios
import NemoSimulator

/// Options shared by `run` and `conformance`.
struct RunOptions: ParsableArguments {
    @Option(help: "embedded (a simulator started here, the default), a URL (a simulator elsewhere, or production), or replay:FILE.")
    var target = "embedded"

    @Option(help: "Run only scenarios with one of these tags (comma-separated).")
    var tags: String?

    @Option(help: "Seed of the embedded simulator.")
    var seed: UInt64 = 1

    @Option(help: "Time scale of the embedded simulator (simulated seconds per real second).")
    var timeScale: Double = 1000

    @Option(help: "Write a JUnit XML report here.")
    var junit: String?

    @Option(help: "Write a Markdown summary here (also to $GITHUB_STEP_SUMMARY when set).")
    var summary: String?

    @Option(help: "Record every exchange of the run to this HAR file.")
    var record: String?

    @Option(help: "Run up to N scenarios at once. Scenarios that use the simulator's admin API (clock, faults, profile) still run one at a time.")
    var parallel = 1

    func validate() throws {
        guard parallel >= 1 else { throw ValidationError("--parallel must be 1 or more") }
    }
}

/// Runs scenario files and reports.
enum ScenarioRun {
    static func execute(paths: [String], options: RunOptions) async throws {
        // Load every file first: a broken file is a usage error (exit 2) naming file and line.
        var files: [(String, [Scenario])] = []
        do {
            for file in try scenarioFiles(paths) { files.append((file, try ScenarioParser.load(file: file))) }
        } catch let error as ScenarioFileError {
            FileHandle.standardError.write(Data("nemosim: \(error)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("nemosim: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let wanted = options.tags.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
        if let wanted { files = files.map { ($0.0, $0.1.filter { !Set($0.tags).isDisjoint(with: wanted) }) }.filter { !$0.1.isEmpty } }
        guard !files.isEmpty else {
            FileHandle.standardError.write(Data("nemosim: no scenarios to run\n".utf8))
            throw ExitCode(2)
        }

        var server: SimulatorServer?
        var replay: ReplayServer?
        let baseURL: String
        if options.target == "embedded" {
            var profile = BehaviourProfile()
            // Every scenario signs in from 127.0.0.1; the rate-limit scenario sets its own limits.
            profile.tokensPerIPPerHour = 1_000_000
            profile.tokensPerIPPerWindow = 1_000_000
            let started = try await SimulatorServer.start(.init(seed: options.seed, timeScale: options.timeScale, profile: profile))
            server = started
            baseURL = started.url
        } else if options.target.hasPrefix("replay:") {
            let recording = try Recording.load(URL(fileURLWithPath: String(options.target.dropFirst("replay:".count))))
            let started = try await ReplayServer.start(recording: recording, timing: .instant)
            replay = started
            baseURL = started.url
        } else {
            baseURL = options.target.hasSuffix("/") ? String(options.target.dropLast()) : options.target
        }
        var transport: any HTTPTransport = CurlTransport()
        var writer: RecordingWriter?
        if let record = options.record {
            writer = try RecordingWriter(
                url: URL(fileURLWithPath: record),
                metadata: RecordingMetadata(
                    toolVersion: NemosimVersion.current, target: options.target, seed: options.target == "embedded" ? options.seed : nil,
                    timeScale: options.target == "embedded" ? options.timeScale : nil, createdAt: Date().formatted(.iso8601)))
            transport = RecordingTransport(base: transport, writer: writer!)
        }
        let runner = ScenarioRunner(baseURL: baseURL, transport: transport, fixturesDirectory: fixturesDirectory())
        let simulator = await runner.targetIsSimulator()
        let wallStart = ContinuousClock.now
        // Scenarios that change shared simulator state run alone; the rest
        // run up to --parallel at a time. Results keep the files' order.
        let all = files.enumerated().flatMap { fileIndex, entry in entry.1.enumerated().map { (fileIndex, $0.offset, entry.0, $0.element) } }
        // Anything that reaches the admin API (the clock, the profile,
        // faults, tokens) changes what other scenarios see.
        let changesShared: (Scenario) -> Bool = { $0.needsSimulator }
        var byPosition: [String: ScenarioResult] = [:]
        func report(_ result: ScenarioResult, _ file: String) {
            let mark: String
            switch result.outcome {
            case .passed: mark = "PASS"
            case .failed: mark = "FAIL"
            case .skipped: mark = "SKIP"
            case .error: mark = "ERR "
            }
            print(String(format: "%@ %@ (%.2f s)  %@", mark, result.name, result.duration, (file as NSString).lastPathComponent))
        }
        let isolated = all.filter { !changesShared($0.3) }
        let shared = all.filter { changesShared($0.3) }
        var next = 0
        await withTaskGroup(of: (String, ScenarioResult, String).self) { group in
            func launch() {
                guard next < isolated.count else { return }
                let (fileIndex, index, file, scenario) = isolated[next]
                next += 1
                group.addTask { ("\(fileIndex)/\(index)", await runner.run(scenario, simulator: simulator), file) }
            }
            for _ in 0..<options.parallel { launch() }
            while let (key, result, file) = await group.next() {
                byPosition[key] = result
                report(result, file)
                launch()
            }
        }
        for (fileIndex, index, file, scenario) in shared {
            let result = await runner.run(scenario, simulator: simulator)
            byPosition["\(fileIndex)/\(index)"] = result
            report(result, file)
        }
        var results: [ScenarioFileResult] = []
        var simulated = 0.0
        for (fileIndex, entry) in files.enumerated() {
            let fileResults = entry.1.indices.compactMap { byPosition["\(fileIndex)/\($0)"] }
            simulated += fileResults.compactMap(\.simulatedSeconds).reduce(0, +)
            results.append(ScenarioFileResult(file: entry.0, scenarios: fileResults))
        }
        let wall = ContinuousClock.now - wallStart
        let run = RunResult(
            target: options.target, seed: options.target == "embedded" ? options.seed : nil,
            timeScale: options.target == "embedded" ? options.timeScale : nil, toolVersion: NemosimVersion.current,
            startedAt: Date().formatted(.iso8601), files: results)
        if let writer {
            writer.setScenarioResults((try? JSONValue(encoding: run)) ?? .null)
            try? writer.close()
        }
        await server?.stop()
        await replay?.stop()

        for file in results {
            for scenario in file.scenarios {
                if case .failed(let failure) = scenario.outcome {
                    print("\nFAILED \(scenario.name) (\(file.file))\n  at \(failure.step)\n  expected: \(failure.expected)\n  actual:   \(failure.actual)")
                }
            }
        }
        let wallSeconds = wall.inSeconds
        print(String(format: "\n%d passed, %d failed, %d skipped%@", run.passed, run.failed + run.errors, run.skipped, ""))
        print(String(format: "covered %.0f s (%.1f h) of simulated API time in %.1f s of wall time", simulated, simulated / 3600, wallSeconds))
        if let junit = options.junit {
            try JUnitReport.xml(for: run).write(to: URL(fileURLWithPath: junit))
        }
        let markdown = MarkdownSummary.render(run)
        if let summary = options.summary { try markdown.write(toFile: summary, atomically: true, encoding: .utf8) }
        if let step = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !step.isEmpty, let handle = FileHandle(forWritingAtPath: step) {
            handle.seekToEndOfFile()
            handle.write(Data(markdown.utf8))
            try? handle.close()
        }
        if run.failed + run.errors > 0 { throw ExitCode(1) }
    }

    /// YAML files under the given files and folders, sorted.
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

    /// The repository's Fixtures folder, found from the current folder or the binary's.
    static func fixturesDirectory() -> URL {
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
}

/// `nemosim run`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run scenario files (YAML) against a target and report.",
        discussion: "Exit 0 when every scenario passes (skips allowed), 1 when any fails, 2 on usage or scenario-file errors (file:line: what is wrong).")

    @Argument(help: "Scenario files or folders.")
    var paths: [String]

    @OptionGroup var options: RunOptions

    func run() async throws {
        try await ScenarioRun.execute(paths: paths, options: options)
    }
}

/// `nemosim conformance`: the built-in suite.
struct ConformanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run the built-in conformance suite (Fixtures/scenarios) against the embedded simulator or another target.",
        discussion: "Against production (--target https://mega-api-prod.nemovideo.ai), scenarios that need the simulator's admin API are skipped.")

    @OptionGroup var options: RunOptions

    func run() async throws {
        try await ScenarioRun.execute(paths: [ScenarioRun.fixturesDirectory().appendingPathComponent("scenarios").path], options: options)
    }
}

/// `nemosim report junit RUN.har`: the JUnit report of a recorded run.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Make reports from a recorded run (nemosim run --record FILE).",
        subcommands: [JUnit.self])

    struct JUnit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "junit", abstract: "Write the JUnit XML of a recorded run: the same report the run itself wrote.")

        @Argument(help: "A HAR recorded by nemosim run --record or nemosim conformance --record.")
        var recording: String

        @Option(name: .shortAndLong, help: "Where to write the JUnit XML.")
        var output: String

        func run() throws {
            let loaded: Recording
            do {
                loaded = try Recording.load(URL(fileURLWithPath: recording))
            } catch {
                FileHandle.standardError.write(Data("nemosim report junit: \(error)\n".utf8))
                throw ExitCode(2)
            }
            guard let results = loaded.metadata?.scenario, let run = try? results.decode(RunResult.self) else {
                FileHandle.standardError.write(Data("nemosim report junit: \(recording) holds no scenario results (record a run with nemosim run --record)\n".utf8))
                throw ExitCode(2)
            }
            try JUnitReport.xml(for: run).write(to: URL(fileURLWithPath: output))
            print("wrote \(output): \(run.passed) passed, \(run.failed) failed, \(run.skipped) skipped")
        }
    }
}

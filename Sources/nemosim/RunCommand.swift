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
    @Option(help: "embedded (a simulator started here, the default), a URL (a simulator elsewhere, or production; with $NEMO_TOKEN set and https, that token is every scenario's starting token), or replay:FILE.")
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

    @Option(help: "With --target replay:FILE: recorded (event streams at their recorded pace, so timing checks hold; the default) or instant (everything at once).")
    var replayTiming: ReplayTimingOption = .recorded

    @Flag(help: "Print the run's results as one JSON document on stdout (counts, and per scenario its outcome, time and step log); details go to stderr.")
    var json = false

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
        var files = try orExit("nemosim", code: 2) { try scenarioFiles(paths).map { ($0, try ScenarioParser.load(file: $0)) } }
        let wanted = options.tags.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
        if let wanted { files = files.map { ($0.0, $0.1.filter { !Set($0.tags).isDisjoint(with: wanted) }) }.filter { !$0.1.isEmpty } }
        guard !files.isEmpty else { throw fail("nemosim", "no scenarios to run", code: 2) }

        var server: SimulatorServer?
        var replay: ReplayServer?
        let baseURL: String
        let embedded = options.target == "embedded"
        let curl = CurlTransport()
        if embedded {
            var profile = BehaviourProfile()
            // Every scenario signs in from 127.0.0.1; the rate-limit scenario sets its own limits.
            profile.tokensPerIPPerHour = 1_000_000
            profile.tokensPerIPPerWindow = 1_000_000
            let started = try await orExit("nemosim run", code: 2) {
                try await SimulatorServer.start(.init(seed: options.seed, timeScale: options.timeScale, profile: profile))
            }
            server = started
            baseURL = started.url
        } else if options.target.hasPrefix("replay:") {
            let path = String(options.target.dropFirst("replay:".count))
            let recording = try loadRecording(path, for: "nemosim run", hint: "give a HAR written by --record or nemosim record")
            let started = try await orExit("nemosim run", code: 2) {
                try await ReplayServer.start(recording: recording, timing: options.replayTiming.timing(timeScale: 1))
            }
            replay = started
            baseURL = started.url
        } else {
            guard let url = URL(string: options.target), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw fail("nemosim", "--target \(options.target) is not embedded, replay:FILE or an http(s) URL", code: 2)
            }
            baseURL = options.target.hasSuffix("/") ? String(options.target.dropLast()) : options.target
            // Nothing runs against a target that does not answer at all.
            do {
                _ = try await curl.send(HTTPRequest(method: "GET", url: baseURL + "/", timeout: 15))
            } catch {
                throw fail("nemosim", "cannot reach \(baseURL): \(error)", code: 2)
            }
        }
        var transport: any HTTPTransport = curl
        var writer: RecordingWriter?
        if let record = options.record {
            writer = try RecordingWriter(
                url: URL(fileURLWithPath: record),
                metadata: RecordingMetadata(
                    toolVersion: NemosimVersion.current, target: options.target, seed: embedded ? options.seed : nil,
                    timeScale: embedded ? options.timeScale : nil, createdAt: Date().formatted(.iso8601)))
            transport = RecordingTransport(base: transport, writer: writer!)
        }
        // Against an https URL (production), NEMO_TOKEN is every scenario's
        // starting token; it is never sent in the clear.
        var environmentToken = server == nil && replay == nil ? ProcessInfo.processInfo.environment["NEMO_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } : nil
        if environmentToken != nil && !baseURL.lowercased().hasPrefix("https://") {
            FileHandle.standardError.write(Data("nemosim: NEMO_TOKEN is not used with \(baseURL): a token is only sent over https\n".utf8))
            environmentToken = nil
        }
        let runner = ScenarioRunner(baseURL: baseURL, transport: transport, fixturesDirectory: fixturesDirectory(), token: environmentToken)
        let simulator = await runner.targetIsSimulator()
        let wallStart = ContinuousClock.now
        // Scenarios that reach the admin API (the clock, the profile, faults)
        // change what other scenarios see, so they run alone; the rest run up
        // to --parallel at a time. Results keep the files' order.
        let all = files.flatMap { file, scenarios in scenarios.map { (file: file, scenario: $0) } }
        var outcomes = [ScenarioResult?](repeating: nil, count: all.count)
        let progress = RunProgress(total: all.count, json: options.json)
        let isolated = all.indices.filter { !all[$0].scenario.needsSimulator }
        var next = 0
        await withTaskGroup(of: (Int, ScenarioResult).self) { group in
            func launch() {
                guard next < isolated.count else { return }
                let position = isolated[next]
                next += 1
                let scenario = all[position].scenario
                progress.started(scenario.name)
                group.addTask { (position, await runner.run(scenario, simulator: simulator)) }
            }
            for _ in 0..<options.parallel { launch() }
            while let (position, result) = await group.next() {
                outcomes[position] = result
                progress.finished(result, file: all[position].file)
                launch()
            }
        }
        for position in all.indices where all[position].scenario.needsSimulator {
            progress.started(all[position].scenario.name)
            let result = await runner.run(all[position].scenario, simulator: simulator)
            outcomes[position] = result
            progress.finished(result, file: all[position].file)
        }
        progress.end()
        var results: [ScenarioFileResult] = []
        var start = 0
        for (file, scenarios) in files {
            results.append(ScenarioFileResult(file: file, scenarios: outcomes[start..<start + scenarios.count].compactMap { $0 }))
            start += scenarios.count
        }
        let simulated = results.flatMap(\.scenarios).compactMap(\.simulatedSeconds).reduce(0, +)
        let wall = ContinuousClock.now - wallStart
        var run = RunResult(
            target: options.target, seed: embedded ? options.seed : nil,
            timeScale: embedded ? options.timeScale : nil, toolVersion: NemosimVersion.current,
            startedAt: Date().formatted(.iso8601), files: results)
        if let writer {
            // Redacted once, for the recording and for this run's own reports
            // alike: a report made from the recording later is the same file.
            // The seed is left out: JSON numbers here are doubles, and the
            // recording keeps the exact seed in its own metadata.
            var stored = run
            stored.seed = nil
            let redacted = writer.setScenarioResults(try JSONValue(encoding: stored))
            run.files = try redacted.decode(RunResult.self).files
            try? writer.close()
        }
        await server?.stop()
        await replay?.stop()

        // Human lines on stdout; with --json they go to stderr and stdout holds the JSON.
        let say: (String) -> Void = options.json ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { print($0) }
        for file in run.files {
            for scenario in file.scenarios {
                switch scenario.outcome {
                case .failed(let failure):
                    say("\nFAILED \(scenario.name) (\(file.file))\n  at \(failure.step)\n  expected: \(failure.expected)\n  actual:   \(failure.actual)"
                        + (failure.message.isEmpty ? "" : "\n  \(failure.message)"))
                case .error(let message):
                    say("\nERROR \(scenario.name) (\(file.file))\n  \(message)")
                default: break
                }
            }
        }
        let wallSeconds = wall.inSeconds
        say(String(format: "\n%d passed, %d failed, %d skipped", run.passed, run.failed + run.errors, run.skipped))
        say(String(format: "covered %.0f s (%.1f h) of simulated API time in %.1f s of wall time", simulated, simulated / 3600, wallSeconds))
        if options.json {
            // JSONEncoder, not JSONValue: a 64-bit seed stays exact.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let document = RunDocument(run: run, simulatedSeconds: simulated.rounded(), wallSeconds: (wallSeconds * 1000).rounded() / 1000)
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        }
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
        discussion: """
            On a terminal, a line per finished scenario under a status line redrawn in place; piped, plain lines. Failures are repeated in detail at the end. Tokens are masked in every report (the ones the run used, and anything shaped like one).

            Examples:
              nemosim run Fixtures/scenarios --junit out.xml
              nemosim run my.yaml --record run.har
              nemosim run my.yaml --target replay:run.har
              nemosim run my.yaml --tags tokens \\
                --target https://mega-api-prod.nemovideo.ai

            Exit 0 when every scenario passes (skips allowed), 1 when any fails, 2 on usage or scenario-file errors (file:line: what is wrong), a recording that cannot be read, or a target that does not answer.
            """)

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
            let loaded = try loadRecording(recording, for: "nemosim report junit")
            guard let results = loaded.metadata?.scenario, var run = try? results.decode(RunResult.self) else {
                throw fail("nemosim report junit", "\(recording) holds no scenario results (record a run with nemosim run --record)", code: 2)
            }
            // The seed is in the recording's own metadata (exact), not in the results.
            if let seed = loaded.metadata?.seed { run.seed = seed }
            try JUnitReport.xml(for: run).write(to: URL(fileURLWithPath: output))
            print("wrote \(output): \(run.passed) passed, \(run.failed) failed, \(run.skipped) skipped")
        }
    }
}

/// What a run shows while it goes. On a terminal: a line per finished
/// scenario (coloured unless NO_COLOR is set) under a status line that is
/// redrawn in place (done/total, failures so far, what is running, elapsed).
/// Otherwise: one plain line per finished scenario; with --json, those go
/// to stderr.
final class RunProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private let terminal: Bool
    /// With --json: plain lines on stderr, stdout is for the JSON.
    private let toStderr: Bool
    private let colour: Bool
    private var finishedAll = false
    private var done = 0
    private var failed = 0
    private var running: [String] = []
    private let start = ContinuousClock.now
    private var ticker: Task<Void, Never>?

    init(total: Int, json: Bool) {
        self.total = total
        toStderr = json
        terminal = !json && isatty(STDOUT_FILENO) != 0
        colour = terminal && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        if terminal {
            ticker = Task { [weak self] in
                while true {
                    do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
                    guard let self else { return }
                    self.redraw()
                }
            }
        }
    }

    func started(_ name: String) {
        lock.withLock { running.append(name) }
        redraw()
    }

    func finished(_ result: ScenarioResult, file: String) {
        let mark: String
        let colourCode: String
        switch result.outcome {
        case .passed: (mark, colourCode) = ("PASS", "32")
        case .failed: (mark, colourCode) = ("FAIL", "31")
        case .skipped: (mark, colourCode) = ("SKIP", "33")
        case .error: (mark, colourCode) = ("ERR ", "31")
        }
        let shownMark = colour ? "\u{1B}[\(colourCode)m\(mark)\u{1B}[0m" : mark
        var line = String(format: "%@ %@ (%.2f s)  %@", shownMark, result.name, result.duration, (file as NSString).lastPathComponent)
        if case .skipped(let reason) = result.outcome { line += "\n     skipped: \(reason)" }
        lock.withLock {
            if let index = running.firstIndex(of: result.name) { running.remove(at: index) }
            done += 1
            if case .failed = result.outcome { failed += 1 }
            if case .error = result.outcome { failed += 1 }
            write((terminal ? "\r\u{1B}[K" : "") + line + "\n")
        }
        redraw()
    }

    func end() {
        ticker?.cancel()
        lock.withLock {
            finishedAll = true
            if terminal { write("\r\u{1B}[K") }
        }
    }

    private func redraw() {
        guard terminal else { return }
        lock.withLock {
            guard !finishedAll else { return }
            let elapsed = (ContinuousClock.now - start).inSeconds
            let now = running.first.map { " · running: \($0)" + (running.count > 1 ? " (+\(running.count - 1))" : "") } ?? ""
            var status = String(format: "[%d/%d] %d failed · %.1f s", done, total, failed, elapsed) + now
            let width = Self.terminalWidth()
            if status.count > width - 1 { status = String(status.prefix(max(10, width - 2))) + "…" }
            write("\r\u{1B}[K" + status)
        }
    }

    private func write(_ text: String) {
        (toStderr ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }
}

/// `nemosim run --json`: the run's results with its counts and times, in one object.
struct RunDocument: Encodable {
    let run: RunResult
    let simulatedSeconds: Double
    let wallSeconds: Double

    enum Keys: String, CodingKey { case passed, failed, errors, skipped, simulatedSeconds, wallSeconds }

    func encode(to encoder: any Encoder) throws {
        try run.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(run.passed, forKey: .passed)
        try container.encode(run.failed, forKey: .failed)
        try container.encode(run.errors, forKey: .errors)
        try container.encode(run.skipped, forKey: .skipped)
        try container.encode(simulatedSeconds, forKey: .simulatedSeconds)
        try container.encode(wallSeconds, forKey: .wallSeconds)
    }
}

import ArgumentParser
import Foundation
import Synchronization
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

    @Option(help: "Profile of the embedded simulator: strict (the default), reference, skill, lenient, a JSON or YAML file, or all (the run once per shipped profile, each its own JUnit suite). Scenarios that pin other profiles' readings (profiles:) are skipped.")
    var profile = "strict"

    @Flag(help: "Run the scenarios that pin other profiles' readings too: their failures show what a profile lets through that strict refuses.")
    var ignoreScenarioProfiles = false

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

    @OptionGroup var admin: AdminTokenOptions

    @Flag(help: "Exit 1 when a scenario is skipped (a target that is not a simulator: no admin API), not only when one fails. Scenarios pinned to another profile's reading are skipped by design and still pass.")
    var failOnSkip = false

    func validate() throws {
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be 1 to 64") }
        guard CheckedNumber.seconds(timeScale, in: 0.001...1_000_000) != nil else {
            throw ValidationError("--time-scale must be a number from 0.001 to 1000000 (simulated seconds per real second), got \(timeScale)")
        }
        if profile != "strict" && target != "embedded" {
            throw ValidationError("--profile sets the embedded simulator's profile: a simulator elsewhere is started with its own (nemosim serve --profile)")
        }
        if profile == "all" && record != nil { throw ValidationError("--record records one run: give one --profile, not all") }
        if target != "embedded" && !target.hasPrefix("replay:") {
            try validateBaseURL(target, "--target (embedded, replay:FILE or a URL)")
        }
    }

    /// `--tags a,b` as a set (nil: every scenario).
    var tagSet: Set<String>? {
        tags.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
    }
}

/// `nemosim run` and `conformance`: options in, ``ScenarioSuite`` run, reports out.
enum ScenarioRun {
    static func execute(paths: [String], options: RunOptions) async throws {
        // Load every file first: a broken file is a usage error (exit 2) naming file and line.
        let files = try orExit("nemosim", code: 2) { try ScenarioSuite.load(paths, tags: options.tagSet) }
        // Reports name files by their path from here (never an absolute path).
        try await execute(files: files.map { (displayPath($0.path), $0.scenarios) }, fixtures: ScenarioSuite.fixturesDirectory(), options: options)
    }

    /// The built-in suite, from inside the binary: its media written to a
    /// temporary folder for the run, its files named as in nemosim's
    /// package (`Fixtures/scenarios/tokens.yaml`).
    static func executeBuiltIn(options: RunOptions) async throws {
        let builtIn = try orExit("nemosim", code: 1) { try ScenarioSuite.builtIn(tags: options.tagSet) }
        let fixtures = builtIn.fixtures
        Interruption.shared.add { try? FileManager.default.removeItem(at: fixtures) }
        defer { try? FileManager.default.removeItem(at: builtIn.fixtures) }
        try await execute(files: builtIn.files, fixtures: builtIn.fixtures, options: options)
    }

    static func execute(files: [ScenarioSuite.File], fixtures: URL, options: RunOptions) async throws {
        guard !files.isEmpty else { throw fail("nemosim", "no scenarios to run", code: 2) }
        let adminToken = try orExit("nemosim", code: 2) { try options.admin.resolved() }

        if options.profile == "all" {
            try await executeUnderEveryProfile(files, fixtures: fixtures, options: options)
            return
        }
        let target: ScenarioSuite.Target
        if options.target == "embedded" {
            let profile = try orExit("nemosim", code: 2) { try BehaviourProfile.named(options.profile) }
            target = .embedded(seed: options.seed, timeScale: options.timeScale, profile: profile)
        } else if options.target.hasPrefix("replay:") {
            let path = String(options.target.dropFirst("replay:".count))
            let recording = try loadRecording(path, for: "nemosim run", hint: "give a HAR written by --record or nemosim record")
            target = .replay(recording, timing: options.replayTiming.timing(timeScale: 1))
        } else {
            // Against an https URL (production), NEMO_TOKEN is every scenario's
            // starting token; it is never sent in the clear.
            let (token, refused) = ClientConfiguration.environmentToken(for: options.target)
            if let refused { FileHandle.standardError.write(Data("nemosim: \(refused)\n".utf8)) }
            target = .url(options.target, token: token)
        }
        var writer: RecordingWriter?
        if let record = options.record {
            var seed: UInt64?
            var timeScale: Double?
            if case .embedded = target { (seed, timeScale) = (options.seed, options.timeScale) }
            writer = try orExit("nemosim", code: 2) {
                try RecordingWriter(
                    url: URL(fileURLWithPath: record),
                    metadata: RecordingMetadata(
                        toolVersion: NemosimVersion.current, target: options.target, seed: seed, timeScale: timeScale,
                        createdAt: Date().formatted(.iso8601)))
            }
        }
        var suite = ScenarioSuite(target: target, targetName: options.target, parallel: options.parallel, recording: writer, fixturesDirectory: fixtures)
        suite.honoursProfiles = !options.ignoreScenarioProfiles
        suite.adminToken = adminToken
        let undo = suite.undo
        Interruption.shared.add { await undo.run() }
        let progress = RunProgress(total: files.reduce(0) { $0 + $1.scenarios.count }, json: options.json)
        let run: ScenarioSuite.Run
        do {
            run = try await suite.run(files, observer: progress)
        } catch let error as ScenarioSuite.SetupError {
            progress.end()
            if let writer { try? writer.close() }
            throw fail("nemosim", error.description, code: 2)
        }
        progress.end()
        if let writer { try? writer.close() }
        try orExit("nemosim", code: 1) { try report(run, options: options) }
        try exitStatus(run.result, options: options)
    }

    /// 1 when a scenario failed (or, with --fail-on-skip, was skipped for
    /// another reason than pinning another profile's reading).
    static func exitStatus(_ result: RunResult, options: RunOptions) throws {
        if result.failed + result.errors > 0 { throw ExitCode(1) }
        let skipped = result.scenarios.filter { scenario in
            if case .skipped(let reason) = scenario.outcome { return !reason.hasPrefix(ScenarioRunner.pinnedSkip) }
            return false
        }
        if options.failOnSkip && !skipped.isEmpty {
            let say = "nemosim: \(skipped.count) scenario(s) skipped (\(skipped.map(\.name).prefix(3).joined(separator: "; "))), and --fail-on-skip is set\n"
            FileHandle.standardError.write(Data(say.utf8))
            throw ExitCode(1)
        }
    }

    /// `--profile all`: the files once per shipped profile, on an embedded
    /// simulator each, reported as one run with a JUnit suite per profile.
    static func executeUnderEveryProfile(_ files: [ScenarioSuite.File], fixtures: URL, options: RunOptions) async throws {
        let names = BehaviourProfile.shippedNames
        let progress = RunProgress(total: files.reduce(0) { $0 + $1.scenarios.count } * names.count, json: options.json)
        var runs: [(profile: String, run: ScenarioSuite.Run)] = []
        for name in names {
            let profile = try orExit("nemosim", code: 1) { try BehaviourProfile.shipped(name) }
            var suite = ScenarioSuite(
                target: .embedded(seed: options.seed, timeScale: options.timeScale, profile: profile), targetName: "embedded (\(name))",
                parallel: options.parallel, fixturesDirectory: fixtures)
            suite.honoursProfiles = !options.ignoreScenarioProfiles
            progress.section = name
            do {
                runs.append((name, try await suite.run(files, observer: progress)))
            } catch let error as ScenarioSuite.SetupError {
                progress.end()
                throw fail("nemosim", error.description, code: 2)
            }
        }
        progress.end()
        guard var run = ScenarioSuite.merged(runs) else { throw fail("nemosim", "no profiles to run", code: 2) }
        run.result.target = "embedded"
        try orExit("nemosim", code: 1) { try report(run, options: options) }
        if !options.json {
            for (name, each) in runs {
                print("  \(name): \(each.result.passed) passed, \(each.result.failed + each.result.errors) failed, \(each.result.skipped) skipped")
            }
        }
        try exitStatus(run.result, options: options)
    }

    /// Failures in detail, the counts, and the reports the options ask for.
    static func report(_ run: ScenarioSuite.Run, options: RunOptions) throws {
        let result = run.result
        // Human lines on stdout; with --json they go to stderr and stdout holds the JSON.
        let say: (String) -> Void = options.json ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { print($0) }
        for file in result.files {
            for scenario in file.scenarios {
                switch scenario.outcome {
                case .failed(let failure):
                    say("\nFAILED \(scenario.name) (\(file.profile.map { "\($0): " } ?? "")\(file.file)\(scenario.line.map { ":\($0)" } ?? ""))\n  at \(failure.step)\n  expected: \(failure.expected)\n  actual:   \(failure.actual)"
                        + (failure.message.isEmpty ? "" : "\n  \(failure.message)"))
                case .error(let message):
                    say("\nERROR \(scenario.name) (\(file.profile.map { "\($0): " } ?? "")\(file.file)\(scenario.line.map { ":\($0)" } ?? ""))\n  \(message)")
                default: break
                }
            }
        }
        let simulated = run.simulatedSeconds
        say(String(format: "\n%d passed, %d failed, %d skipped", result.passed, result.failed + result.errors, result.skipped))
        say(String(format: "covered %.0f s (%.1f h) of simulated API time in %.1f s of wall time", simulated, simulated / 3600, run.wallSeconds))
        if options.json {
            // JSONEncoder, not JSONValue: a 64-bit seed stays exact.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let document = RunDocument(run: result, simulatedSeconds: simulated.rounded(), wallSeconds: (run.wallSeconds * 1000).rounded() / 1000)
            if let data = try? encoder.encode(document) { print(String(decoding: data, as: UTF8.self)) }
        }
        if let junit = options.junit {
            try JUnitReport.xml(for: result).write(to: URL(fileURLWithPath: junit))
        }
        if ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" {
            for line in GitHubAnnotations.lines(for: result) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        let markdown = MarkdownSummary.render(result)
        if let summary = options.summary { try markdown.write(toFile: summary, atomically: true, encoding: .utf8) }
        if let step = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !step.isEmpty, let handle = FileHandle(forWritingAtPath: step) {
            handle.seekToEndOfFile()
            handle.write(Data(markdown.utf8))
            try? handle.close()
        }
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
        discussion: """
            Against production (--target https://mega-api-prod.nemovideo.ai), scenarios that need the simulator's admin API are skipped, \
            and so are those that pin a reading other than strict's.

            Examples:
              nemosim conformance --junit conformance.xml
              nemosim conformance --profile all --junit profiles.xml
              nemosim conformance --profile lenient --ignore-scenario-profiles   # what lenient lets through

            Exit 0 when every scenario passes (skips allowed), 1 when any fails, 2 on usage errors.
            """)

    @OptionGroup var options: RunOptions

    func run() async throws {
        try await ScenarioRun.executeBuiltIn(options: options)
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
            guard var run = loaded.metadata?.scenario else {
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
/// Otherwise (TERM=dumb too): one plain line per finished scenario; with
/// --json, those go to stderr.
final class RunProgress: ScenarioSuite.Observer, @unchecked Sendable {
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
    /// What the lines are under (the profile, with --profile all).
    var section: String? {
        get { lock.withLock { currentSection } }
        set { lock.withLock { currentSection = newValue } }
    }
    private var currentSection: String?
    private var ticker: Task<Void, Never>?

    init(total: Int, json: Bool) {
        self.total = total
        toStderr = json
        terminal = !json && Terminal.redraws(STDOUT_FILENO)
        colour = !json && Terminal.colour(STDOUT_FILENO)
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

    func started(_ scenario: Scenario) {
        lock.withLock { running.append(scenario.name) }
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
        let place = (lock.withLock { currentSection }.map { "\($0): " } ?? "") + (file as NSString).lastPathComponent
        var line = String(format: "%@ %@ (%.2f s)  %@", shownMark, result.name, result.duration, place)
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

/// Ctrl-C (or SIGTERM) during a run: puts back what the run changed on its
/// target (the per-address limits a simulator elsewhere had lifted) and
/// removes its temporary files, then exits 128 + the signal; a second one
/// exits at once (``SignalWatch``).
final class Interruption: Sendable {
    static let shared = Interruption()

    private let cleanups = Mutex<[@Sendable () async -> Void]>([])
    private let watch = Mutex<SignalWatch?>(nil)

    /// Runs `cleanup` if the process is interrupted (watching from the first call on).
    func add(_ cleanup: @escaping @Sendable () async -> Void) {
        cleanups.withLock { $0.append(cleanup) }
        watch.withLock { watch in
            guard watch == nil else { return }
            watch = SignalWatch(ignoreFirst: true) { [self] number in interrupted(number) }
        }
    }

    private func interrupted(_ number: Int32) {
        FileHandle.standardError.write(Data("\nnemosim: interrupted: putting the target back and removing temporary files (again to stop at once)\n".utf8))
        let cleanups = cleanups.withLock { $0 }
        Task {
            for cleanup in cleanups { await cleanup() }
            exit(128 + number)
        }
    }
}

import ArgumentParser
import Foundation
import NemoCore
import NemoReports
import NemoScenarios
import NemoSimulator

/// `nemosim check-client -- COMMAND ARGS...`.
struct CheckClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-client",
        abstract: "Run your client against a simulator that makes the hard cases happen, and grade what it sent against the vendor's client rules.",
        discussion: """
            Starts a simulator, arms the challenge plan (a 429 on the first token request, \
            a 1001 on the first credits call, a generation streaming heartbeats for more \
            than 2 minutes, the second message's stream cut after 2 events, edits whose \
            streams close silently, credits for one generation and one edit charge only), \
            runs COMMAND with NEMO_API_URL and NEMO_WEB_URL pointing at it (NEMO_TOKEN and \
            NEMO_CLIENT_ID removed), waits for it to exit, then grades the request journal: \
            one line per rule, passed, failed (with the journal entries that decided it) or \
            not exercised (with the challenge that would make it arise).

            Timing rules are checked in simulated time. At --time-scale 1 the plan takes a \
            client a few minutes of real time; a client that divides its waits by the \
            time_scale of GET /_nemosim/health (as nemosim's own client does) can run at \
            1000 and finish in seconds.

            Exit status: 0 every rule passed or was not exercised (--require-all: passed), \
            1 a rule failed, 2 a usage error or the command could not start.

            Examples:
              nemosim check-client -- python3 my_client.py
              nemosim check-client --time-scale 1000 --junit rules.xml -- ./flow.sh
              nemosim check-client --api http://127.0.0.1:8080 -- npm test
            """)

    @Option(help: "A simulator already running (nemosim serve), instead of one started here: the plan is armed through its admin API and the journal entries made while the command runs are graded.")
    var api: String?

    @OptionGroup var admin: AdminTokenOptions

    @Option(help: "Behaviour profile of the simulator: strict (the default), reference, skill, lenient, or a JSON or YAML file.")
    var profile = "strict"

    @Option(help: "Simulated seconds per real second (1: real time).")
    var timeScale: Double = 1

    @Option(help: "Seed of the simulator.")
    var seed: UInt64 = 42

    @Option(help: "Stop the command after this many real seconds (it is then graded on what it did).")
    var timeout: Double = 600

    @Flag(help: "Fail (exit 1) when a rule was not exercised, too.")
    var requireAll = false

    @Option(help: "Write a JUnit XML report here (one test case per rule).")
    var junit: String?

    @Option(help: "Write a Markdown summary here (also to $GITHUB_STEP_SUMMARY when set).")
    var summary: String?

    @Flag(help: "Print the report as one JSON document on stdout; the rule lines go to stderr.")
    var json = false

    @Argument(parsing: .postTerminator, help: "The command to check, after --.")
    var command: [String] = []

    func validate() throws {
        if let api { try validateBaseURL(api, "--api") }
    }

    func run() async throws {
        guard !command.isEmpty else { throw fail("nemosim check-client", "no command given: nemosim check-client [options] -- COMMAND ARGS...", code: 2) }
        guard timeScale.isFinite, (0.001...1_000_000).contains(timeScale) else {
            throw fail("nemosim check-client", "--time-scale must be 0.001 to 1000000, got \(timeScale)", code: 2)
        }
        guard timeout.isFinite, (1...86_400).contains(timeout) else {
            throw fail("nemosim check-client", "--timeout must be 1 to 86400 seconds, got \(timeout)", code: 2)
        }
        let startedAt = Date().formatted(.iso8601)
        let report: ClientCheck.Report
        do {
            if let api {
                let adminToken = try orExit("nemosim check-client", code: 2) {
                    try admin.resolved()
                }
                report = try await ClientCheck.check(command, apiURL: api, adminToken: adminToken, timeLimit: timeout)
            } else {
                let behaviour = try orExit("nemosim check-client", code: 2) { try BehaviourProfile.named(profile) }
                var configuration = SimulatorConfiguration(seed: seed, timeScale: timeScale, profile: behaviour)
                configuration.port = 0
                report = try await ClientCheck.check(command, configuration: configuration, timeLimit: timeout)
            }
        } catch let error as ClientCheck.LaunchError {
            throw fail("nemosim check-client", error.description, code: 2)
        } catch let error as ClientCheck.RemoteError {
            throw fail("nemosim check-client", error.description, code: 2)
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail("nemosim check-client", "\(error)", code: 2)
        }
        let say: (String) -> Void = json ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { print($0) }
        for line in ClientCheck.lines(report) { say(line) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(report) { print(String(decoding: data, as: UTF8.self)) }
        }
        let run = report.runResult(target: "check-client: " + command.joined(separator: " "), toolVersion: NemosimVersion.current, startedAt: startedAt)
        try orExit("nemosim check-client", code: 2) {
            if let junit { try JUnitReport.xml(for: run).write(to: URL(fileURLWithPath: junit)) }
            let markdown = MarkdownSummary.render(run)
            if let summary { try markdown.write(toFile: summary, atomically: true, encoding: .utf8) }
            if let step = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !step.isEmpty, let handle = FileHandle(forWritingAtPath: step) {
                handle.seekToEndOfFile()
                handle.write(Data(markdown.utf8))
                try? handle.close()
            }
        }
        if report.failed > 0 || (requireAll && report.notExercised > 0) { throw ExitCode(1) }
    }
}

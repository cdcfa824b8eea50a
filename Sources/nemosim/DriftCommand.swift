import ArgumentParser
import Foundation
import NemoCore
import NemoRecording
import NemoReports
import NemoScenarios
import NemoSimulator

/// `nemosim drift`: how far recordings are from what a profile models.
struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Compare recordings (of production, or of another simulator) with what a profile models.",
        discussion: """
            Two comparisons:
            - Distributions: the heartbeat interval (within 10 %), the ratios of silent closes,
              failures and temporary-issue texts (within 5 points, judged from 200 observations),
              the event dialect and ids (exactly), and the duration ranges of generations, edits
              and replies (ends within 15 %, judged from 20 observations), read from every
              complete /run_sse stream, against the profile's keys.
            - Structure: each recorded request sent again, in order, at its recorded moment (the
              simulator's clock moved on to it: a long pause costs no wait), to an embedded
              simulator running the profile (recorded tokens and ids mapped to the live ones; an upload's files, which recordings do not hold, as a shipped sample of
              the same type); per endpoint, statuses and envelope codes, answer fields and their
              JSON types seen on one side only. Leave it out with --no-replay.

            Exit 0 when nothing drifts, 1 when something does, 2 when a recording or the
            profile cannot be read or the recordings hold nothing to compare. Fit a profile to the recordings with nemosim profiles derive.

            Examples:
              nemosim drift prod.har
              nemosim drift prod.har --profile derived.yaml --markdown drift.md --junit drift.xml
            """)

    @Argument(help: "Recordings (HAR): nemosim's, or another tool's.")
    var files: [String]

    @Option(help: "The profile to compare with: a shipped name or a file.")
    var profile = "strict"

    @Flag(help: "Compare the distributions only (send nothing to an embedded simulator).")
    var noReplay = false

    @Option(help: "Time scale of the embedded simulator the requests are sent to again.")
    var timeScale: Double = 1000

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write the report as Markdown here.")
    var markdown: String?

    @Option(help: "Also write a JUnit report here (a test case per key and per endpoint).")
    var junit: String?

    func validate() throws {
        guard CheckedNumber.seconds(timeScale, in: 0.001...1_000_000) != nil else {
            throw ValidationError("--time-scale must be a number from 0.001 to 1000000, got \(timeScale)")
        }
    }

    func run() async throws {
        let recordings = try files.map { try loadRecording($0, for: "nemosim drift") }
        let behaviour = try orExit("nemosim drift", code: 2) { try BehaviourProfile.named(profile) }
        let observations = RecordingObservations(recordings)
        let keys = DriftReport.keyDrifts(observations, profile: behaviour)
        var endpoints: [DriftReport.EndpointDrift] = []
        var notReplayed: [String: Int] = [:]
        if !noReplay {
            let redraw = Terminal.redraws(STDERR_FILENO)
            let structure = try await orExit("nemosim drift", code: 1) {
                try await DriftReport.structure(recordings, profile: behaviour, timeScale: timeScale) { done, total in
                    if redraw { FileHandle.standardError.write(Data("\r\u{1B}[2Kreplaying \(done)/\(total)".utf8)) }
                }
            }
            if redraw { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            endpoints = structure.endpoints
            notReplayed = structure.notReplayed
        }
        let report = DriftReport(profileName: behaviour.name, keys: keys, endpoints: endpoints, notReplayed: notReplayed, observations: observations)
        // Nothing judged is not "no drift": a gate on it must not pass.
        if observations.streams == 0 && endpoints.isEmpty {
            throw fail(
                "nemosim drift",
                "the recordings hold no complete /run_sse stream\(noReplay ? "" : " and no request of the API to send again"): nothing to compare (record a session with messages)",
                code: 2)
        }
        let markdownText = Self.markdown(report, files: files)
        if json {
            print(Self.json(report).jsonString(pretty: true))
        } else {
            print(markdownText, terminator: "")
        }
        if let markdown { try writeOutput(markdownText, to: markdown, for: "nemosim drift") }
        if let junit {
            let xml = try orExit("nemosim drift", code: 1) { try JUnitReport.xml(for: Self.runResult(report, files: files)) }
            try writeOutput(String(decoding: xml, as: UTF8.self), to: junit, for: "nemosim drift")
        }
        if report.drifted { throw ExitCode(1) }
    }

    static func value(_ value: JSONValue?) -> String { value.map { $0.jsonString() } ?? "—" }

    static func markdown(_ report: DriftReport, files: [String]) -> String {
        var lines = [
            "# Drift: \(files.joined(separator: ", ")) against the profile \(report.profileName)", "",
            report.drifted ? "**Drift:** \(report.driftedKeys.count) key(s), \(report.endpoints.filter { !$0.differences.isEmpty }.count) endpoint(s)." : "No drift.",
            "", "## Keys (\(report.observations.streams) streams read)", "",
            "| key | profile | recordings | observations | tolerance | drift |", "|---|---|---|---|---|---|",
        ]
        for key in report.keys {
            lines.append("| `\(key.key)` | `\(value(key.profile))` | `\(value(key.observed))` | \(key.observations) | \(key.note) | \(key.drifted ? "**drift**" : "no") |")
        }
        if !report.endpoints.isEmpty {
            lines += ["", "## Endpoints (recorded requests sent again to an embedded simulator)", ""]
            for endpoint in report.endpoints {
                lines.append("- `\(endpoint.endpoint)` (\(endpoint.exchanges)): " + (endpoint.differences.isEmpty ? "same" : "**differs**"))
                lines += endpoint.differences.map { "  - \($0)" }
            }
        }
        if !report.notReplayed.isEmpty {
            lines += ["", "Not sent again: " + report.notReplayed.sorted { $0.key < $1.key }.map { "\($0.value) (\($0.key))" }.joined(separator: ", ")]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func json(_ report: DriftReport) -> JSONValue {
        [
            "profile": .string(report.profileName), "drift": .bool(report.drifted), "drifted_keys": .array(report.driftedKeys.map(JSONValue.string)),
            "streams": .number(Double(report.observations.streams)),
            "keys": .array(report.keys.map { key in
                [
                    "key": .string(key.key), "profile": key.profile, "observed": key.observed ?? .null, "observations": .number(Double(key.observations)),
                    "tolerance": .string(key.note), "drift": .bool(key.drifted),
                ]
            }),
            "endpoints": .array(report.endpoints.map { endpoint in
                ["endpoint": .string(endpoint.endpoint), "exchanges": .number(Double(endpoint.exchanges)), "differences": .array(endpoint.differences.map(JSONValue.string))]
            }),
            "not_replayed": .object(report.notReplayed.mapValues { .number(Double($0)) }),
        ]
    }

    /// The report as a run: a test case per key and per endpoint.
    static func runResult(_ report: DriftReport, files: [String]) -> RunResult {
        var keys: [ScenarioResult] = report.keys.map { key in
            let outcome: ScenarioOutcome = key.drifted
                ? .failed(StepFailure(step: key.key, expected: value(key.profile), actual: value(key.observed), message: "drifts beyond tolerance (\(key.note)), \(key.observations) observations"))
                : .passed
            return ScenarioResult(name: key.key, tags: ["key"], outcome: outcome, duration: 0)
        }
        keys += report.endpoints.map { endpoint in
            let outcome: ScenarioOutcome = endpoint.differences.isEmpty
                ? .passed
                : .failed(StepFailure(step: endpoint.endpoint, expected: "the simulator's answers", actual: endpoint.differences.joined(separator: "; "), message: "differs"))
            return ScenarioResult(name: endpoint.endpoint, tags: ["endpoint"], outcome: outcome, duration: 0)
        }
        return RunResult(
            target: "profile \(report.profileName)", toolVersion: NemosimVersion.current, startedAt: Date().formatted(.iso8601),
            files: [ScenarioFileResult(file: "drift", scenarios: keys)])
    }
}

import Foundation
import NemoClient
import NemoCore
import NemoReports
import NemoSimulator

#if canImport(Glibc)
import Glibc
#endif

/// `nemosim check-client`: runs a program against a simulator armed with
/// the challenge plan (so that the situations the client rules are about
/// actually happen), then grades the journal with ``ClientRules``.
public enum ClientCheck {
    /// The situations a check makes happen: a profile patch and faults.
    public struct ChallengePlan: Sendable {
        public var profilePatch: JSONValue
        public var faults: [FaultRule]

        /// The default plan. A client that follows the rules meets, in
        /// order: a 429 on its first token request; a 1001 on its first
        /// credits call (a token that expired mid-session); a 1002 on its
        /// first message (a session that is gone); a first message
        /// whose generation streams heartbeats for more than 2 minutes;
        /// its second message's stream cut after 2 events; edits whose
        /// streams close silently; credits for one generation and one
        /// edit charge only (150), so a later generation gets 2001; the first
        /// render failing; and output URLs that expire a second after the
        /// render ends.
        public static let standard = ChallengePlan(
            profilePatch: [
                "initial_credits": 150,
                "generation_cost": 100,
                "edit_cost": 50,
                "edit_charge": "per_session",
                "generation_duration_seconds": [150, 170],
                "edit_duration_seconds": [20, 30],
                "heartbeat_interval_seconds": 15,
                "silent_close_ratio": 1,
                "silent_generation_ratio": 0,
                "operation_failure_ratio": 0,
                "temporary_issue_ratio": 0,
                // Production allows 1 token per client id per 7 days; the
                // 1001 challenge "expires" the first, so one more, and no
                // more: a client that asks again meets the real 429.
                "tokens_per_client": 2,
                // The output URL expires a second after the render ends: a
                // client polling every 30 s finds it expired.
                "download_url_ttl_seconds": 1,
                "render_failure_ratio": 0,
                // Renders done by the first poll (30 s), so that the plan
                // stays a few minutes long at time scale 1.
                "render_duration_seconds": [20, 25],
                "render_queue_seconds": 1,
            ],
            faults: [
                FaultRule(match: .init(method: "POST", path: "/api/auth/anonymous-token"), respond: .httpStatus(429), times: 1),
                FaultRule(match: .init(method: "GET", path: "/api/credits/balance/simple"), respond: .code(1001), times: 1),
                // Taken first (the first matching rule takes a request): the
                // first message finds its session gone.
                FaultRule(match: .init(method: "POST", path: "/run_sse"), respond: .code(1002), times: 1),
                FaultRule(match: .init(method: "POST", path: "/run_sse"), respond: .dropAfterEvents(2), times: 1, skip: 1),
                FaultRule(match: .init(method: "POST", path: "/api/render/proxy/lambda"), respond: .renderFails, times: 1),
            ])

        public init(profilePatch: JSONValue, faults: [FaultRule]) {
            self.profilePatch = profilePatch
            self.faults = faults
        }

        /// Arms the plan on an embedded simulation.
        public func arm(on simulation: Simulation) throws {
            _ = try simulation.patchProfile(profilePatch)
            for fault in faults { _ = try simulation.faults.arm(fault) }
        }
    }

    /// A graded check.
    public struct Report: Sendable, Encodable {
        public var command: [String]
        /// The command's exit status (nil: it was stopped at the time limit).
        public var exitStatus: Int32?
        public var timedOut: Bool { exitStatus == nil }
        public var seconds: Double
        public var results: [ClientRules.Result]
        public var passed: Int { results.filter { $0.verdict == .passed }.count }
        public var failed: Int { results.filter { $0.verdict == .failed }.count }
        public var notExercised: Int { results.filter { $0.verdict == .notExercised }.count }

        enum CodingKeys: String, CodingKey {
            case command
            case exitStatus = "exit_status"
            case timedOut = "timed_out"
            case seconds, results
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(command, forKey: .command)
            try container.encode(exitStatus, forKey: .exitStatus)
            try container.encode(timedOut, forKey: .timedOut)
            try container.encode(seconds, forKey: .seconds)
            try container.encode(results, forKey: .results)
        }

        /// As a run of scenarios (one per rule), for the JUnit and Markdown writers.
        public func runResult(target: String, toolVersion: String, startedAt: String) -> RunResult {
            let scenarios = results.map { result -> ScenarioResult in
                let outcome: ScenarioOutcome
                switch result.verdict {
                case .passed: outcome = .passed
                case .notExercised: outcome = .skipped(result.detail)
                case .failed:
                    outcome = .failed(StepFailure(
                        step: "journal entries " + result.evidence.map { "#\($0)" }.joined(separator: ", "), expected: result.title,
                        actual: result.detail, message: "\(result.detail) (\(result.source))"))
                }
                return ScenarioResult(name: result.rule, tags: ["client-rule"], outcome: outcome, duration: 0, log: [result.title, result.source])
            }
            return RunResult(
                target: target, toolVersion: toolVersion, startedAt: startedAt, files: [ScenarioFileResult(file: "check-client", scenarios: scenarios)])
        }
    }

    /// Why a command could not be run.
    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The environment a checked command gets: this one, with the
    /// variables the vendor's texts name for clients pointing at the
    /// simulator (`NEMO_API_URL`, `NEMO_WEB_URL`) or removed so the client
    /// starts as a new one would (`NEMO_TOKEN`, `NEMO_CLIENT_ID`); never
    /// the simulator's admin token (`NEMOSIM_ADMIN_TOKEN`): a client under
    /// test could clear the plan's faults with it.
    public static func environment(apiURL: String, base: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var environment = base
        environment["NEMO_API_URL"] = apiURL
        environment["NEMO_WEB_URL"] = apiURL
        environment["NEMO_TOKEN"] = nil
        environment["NEMO_CLIENT_ID"] = nil
        environment["NEMOSIM_ADMIN_TOKEN"] = nil
        return environment
    }

    /// Runs `command` (its output goes to this process's standard error)
    /// until it exits or `timeLimit` real seconds pass (then it and every
    /// process it started are terminated). Returns its exit status (nil
    /// when it was stopped).
    public static func run(_ command: [String], environment: [String: String], timeLimit: Double) async throws -> (status: Int32?, seconds: Double) {
        guard let name = command.first else { throw LaunchError(description: "no command given: nemosim check-client -- COMMAND ARGS...") }
        guard let executable = resolve(name, path: environment["PATH"]) else {
            throw LaunchError(description: "could not start \(name): " + (name.contains("/") ? "no executable file there" : "not found on PATH"))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        let started = ContinuousClock.now
        do {
            try process.run()
        } catch {
            throw LaunchError(description: "could not start \(name): \(error.localizedDescription)")
        }
        let deadline = started + .seconds(timeLimit)
        do {
            while process.isRunning {
                if ContinuousClock.now >= deadline {
                    await stop(process)
                    return (nil, (ContinuousClock.now - started).inSeconds)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        } catch {
            await stop(process)  // cancelled: nothing is left running
            throw error
        }
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return (status, (ContinuousClock.now - started).inSeconds)
    }

    /// The executable a command name stands for: a path as given, or the
    /// first match on `path` (the command's own PATH).
    static func resolve(_ name: String, path: String?) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !folder.isEmpty {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Terminates a process and everything it started (a shell script's
    /// curl included): SIGTERM, then SIGKILL two seconds later.
    static func stop(_ process: Process) async {
        let pid = process.processIdentifier
        let tree = [pid] + descendants(of: pid)
        for member in tree { kill(member, SIGTERM) }
        for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        for member in tree { kill(member, SIGKILL) }
        process.waitUntilExit()
    }

    /// The processes below `pid`, from /proc (empty where there is none).
    static func descendants(of pid: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]) else { continue }
            children[parent, default: []].append(child)
        }
        var found: [Int32] = []
        var queue = [pid]
        while let next = queue.popLast() {
            for child in children[next] ?? [] {
                found.append(child)
                queue.append(child)
            }
        }
        return found
    }

    /// Checks `command` against an embedded simulator: starts it (with
    /// `configuration`), arms `plan`, runs the command, grades the journal.
    public static func check(
        _ command: [String], configuration: SimulatorConfiguration, plan: ChallengePlan = .standard, timeLimit: Double = 600
    ) async throws -> Report {
        let server = try await SimulatorServer.start(configuration)
        do {
            try plan.arm(on: server.simulation)
            let (status, seconds) = try await run(command, environment: environment(apiURL: server.url), timeLimit: timeLimit)
            // A stream the command left open is journaled once it ends.
            try? await Task.sleep(for: .milliseconds(200))
            let entries = await journalEntries { server.journal(JournalQuery(since: $0)) }
            let documented = ClientRules.Documented(server.simulation.profile)
            await server.stop()
            return Report(
                command: command, exitStatus: status, seconds: seconds, results: ClientRules.grade(entries, documented: documented))
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Why a simulator elsewhere could not be used.
    public struct RemoteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Checks `command` against a simulator started elsewhere (`nemosim
    /// serve`, in a team's own harness), through its admin API: arms `plan`
    /// there (the profile keys it patches are put back afterwards, and its
    /// faults cleared when none were armed before), runs the command, and
    /// grades the journal entries made while it ran (earlier ones are left
    /// alone, not cleared).
    public static func check(
        _ command: [String], apiURL: String, adminToken: String?, plan: ChallengePlan = .standard, timeLimit: Double = 600,
        transport: any HTTPTransport = CurlTransport()
    ) async throws -> Report {
        let base = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        func admin(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
            var headers: [(name: String, value: String)] = []
            if let adminToken { headers.append(("Authorization", "Bearer \(adminToken)")) }
            let request = ClientRequest(
                method: method, url: base + "/_nemosim/" + path, headers: headers,
                body: body.map { .data(Data($0.jsonString().utf8), contentType: "application/json") } ?? .none, timeout: 30)
            let response: ClientResponse
            do {
                response = try await transport.send(request, progress: nil)
            } catch {
                throw RemoteError(description: "\(apiURL) did not answer \(method) /_nemosim/\(path): \(error)")
            }
            let answer = (try? JSONValue.parse(response.body)) ?? .null
            switch response.status {
            case 200..<300: return answer
            case 401, 403:
                throw RemoteError(
                    description: "\(apiURL) refused its admin API (HTTP \(response.status)): pass the simulator's admin token (--admin-token-file, or NEMOSIM_ADMIN_TOKEN)")
            case 404 where path == "health":
                throw RemoteError(description: "\(apiURL) is not a nemosim simulator (no /_nemosim/health): check-client --api needs one")
            default:
                throw RemoteError(description: "\(apiURL): \(method) /_nemosim/\(path) answered HTTP \(response.status): \(answer["message"]?.stringValue ?? "")")
            }
        }
        _ = try await admin("GET", "health")
        let before = try await admin("GET", "profile")
        let faultsBefore = try await admin("GET", "faults").arrayValue?.count ?? 0
        let start = try await admin("GET", "journal?limit=0")["last_seq"]?.intValue ?? 0
        let patched = try await admin("PATCH", "profile", plan.profilePatch)
        let documented = ClientRules.Documented(
            renderPollIntervalSeconds: patched["render_poll_interval_seconds"]?.doubleValue ?? 30, renderMaxPolls: patched["render_max_polls"]?.intValue ?? 10)
        var restore: [String: JSONValue] = [:]
        for key in plan.profilePatch.objectValue?.keys ?? [:].keys { restore[key] = before[key] ?? .null }
        let outcome: Result<Report, any Error>
        do {
            for fault in plan.faults { _ = try await admin("POST", "faults", try JSONValue(encoding: fault)) }
            let (status, seconds) = try await run(command, environment: environment(apiURL: apiURL), timeLimit: timeLimit)
            try? await Task.sleep(for: .milliseconds(200))
            let entries = try await journalEntries(since: start) { since in
                try JSONDecoder().decode(JournalPage.self, from: Data(try await admin("GET", "journal?since=\(since)").jsonString().utf8))
            }
            outcome = .success(Report(command: command, exitStatus: status, seconds: seconds, results: ClientRules.grade(entries, documented: documented)))
        } catch {
            outcome = .failure(error)
        }
        // Put back what the plan changed, whatever happened.
        _ = try? await admin("PATCH", "profile", .object(restore))
        if faultsBefore == 0 { _ = try? await admin("DELETE", "faults") }
        return try outcome.get()
    }

    /// Every journal entry after `start`, page by page (`page(since)`
    /// gives the page after a sequence number).
    static func journalEntries(since start: Int = 0, page: (Int) async throws -> JournalPage) async rethrows -> [JournalEntry] {
        var entries: [JournalEntry] = []
        var since = start
        while true {
            let next = try await page(since)
            entries += next.entries
            guard next.more, let last = next.entries.last else { return entries }
            since = last.seq
        }
    }

    /// The report as lines for a terminal: one per rule.
    public static func lines(_ report: Report) -> [String] {
        var lines = report.results.map { result -> String in
            let mark = switch result.verdict {
            case .passed: "PASS"
            case .failed: "FAIL"
            case .notExercised: "----"
            }
            return "\(mark) \(result.rule): \(result.detail)"
        }
        let exit = report.timedOut ? "stopped at the time limit" : "exited \(report.exitStatus ?? -1)"
        lines.append(
            "\(report.passed) passed, \(report.failed) failed, \(report.notExercised) not exercised; the command \(exit) after \(String(format: "%.1f", report.seconds)) s")
        return lines
    }
}

import Crypto
import Foundation
import NemoClient
import NemoCore
import NemoReports

/// Keeps the last response a client saw, for expectations on status, code and JSON.
final class CapturingTransport: HTTPTransport, @unchecked Sendable {
    let base: any HTTPTransport
    // NSLock rather than Mutex: see ReplayMatcher (a release-build miscompile).
    private let lock = NSLock()
    private var last: (status: Int, body: Data)?

    init(base: any HTTPTransport) { self.base = base }

    var lastResponse: (status: Int, body: Data)? { lock.withLock { last } }
    func reset() { lock.withLock { last = nil } }

    func send(_ request: HTTPRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> HTTPResponse {
        let response = try await base.send(request, progress: progress)
        lock.withLock { last = (response.status, response.body) }
        return response
    }

    func download(_ request: HTTPRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> HTTPResponse {
        let response = try await base.download(request, to: file, progress: progress)
        lock.withLock { last = (response.status, response.body) }
        return response
    }

    func stream(_ request: HTTPRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        base.stream(request)
    }
}

/// When heartbeats arrived (API seconds on the client's clock).
final class HeartbeatTimes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func append(_ time: Double) { lock.withLock { values.append(time) } }
    var times: [Double] { lock.withLock { values } }
}

/// Records client actions for `actions` expectations.
final class ActionList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ action: ClientAction) { append(action.description) }
    func append(_ text: String) { lock.withLock { items.append(text) } }
    func take() -> [String] {
        lock.withLock {
            let taken = items
            items = []
            return taken
        }
    }
}

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

    public init(baseURL: String, transport: any HTTPTransport, fixturesDirectory: URL, token: String? = nil) {
        self.baseURL = baseURL
        self.transport = transport
        self.fixturesDirectory = fixturesDirectory
        self.token = token
    }

    /// Whether the target answers the simulator's admin API.
    public func targetIsSimulator() async -> Bool {
        guard let response = try? await transport.send(HTTPRequest(method: "GET", url: baseURL + "/_nemosim/health", timeout: 10)) else { return false }
        return response.status == 200 && (try? JSONValue.parse(response.body))?["status"] == "ok"
    }

    /// Runs one scenario. Against a simulator, a scenario that changes the
    /// profile or arms faults leaves both as it found them.
    public func run(_ scenario: Scenario, simulator: Bool) async -> ScenarioResult {
        let changesProfile = scenario.steps.contains { if case .profile = $0.action { return true } else { return false } }
        let armsFaults = scenario.steps.contains { if case .fault = $0.action { return true } else { return false } }
        var savedProfile: JSONValue?
        if simulator && changesProfile, let response = try? await transport.send(HTTPRequest(method: "GET", url: baseURL + "/_nemosim/profile")) {
            savedProfile = try? JSONValue.parse(response.body)
        }
        let result = await runSteps(scenario, simulator: simulator)
        if simulator {
            if let savedProfile { try? await admin("PATCH", "/profile", savedProfile) }
            if armsFaults { try? await admin("DELETE", "/faults", nil) }
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
        let capturing = CapturingTransport(base: transport)
        let actions = ActionList()
        let client = NemoClient(
            configuration: ClientConfiguration(baseURL: baseURL, token: token, clientID: UUID().uuidString), transport: capturing,
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
                    step, label: label, client: client, variables: variables, capturing: capturing, actions: actions, simulator: simulator)
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

    /// One try of a step: perform it (within its timeout) and check it.
    func attempt(
        _ step: Step, label: String, client: NemoClient, variables: [String: JSONValue], capturing: CapturingTransport, actions: ActionList,
        simulator: Bool
    ) async -> (failure: StepFailure?, captured: [String: JSONValue], logLine: String) {
        capturing.reset()
        _ = actions.take()
        // Step durations in simulated time: the simulator's clock, or
        // elsewhere the client's (real time against production).
        let clientClock = await client.clock
        let stepStart = simulator ? await simulatedNow() : clientClock.now
        let beats = HeartbeatTimes()
        var outcome: MessageOutcome?
        var produced: JSONValue?
        var thrown: NemoError?
        do {
            let output = try await withTimeout(step.timeout, label: label) {
                try await perform(step.action, client: client, variables: variables, beats: beats, actions: actions)
            }
            outcome = output.outcome
            produced = output.json
        } catch let error as NemoError {
            thrown = error
        } catch {
            thrown = NemoError(kind: .transport, message: "\(error)")
        }
        let response = capturing.lastResponse
        let json = produced ?? response.flatMap { try? JSONValue.parse($0.body) }
        let stepEnd = simulator ? await simulatedNow() : clientClock.now
        let stepSeconds: Double? = stepStart.flatMap { start in stepEnd.map { $0 - start } }
        var context = CheckContext(
            status: response?.status, json: json, outcome: outcome, actions: actions.take(), simulatedSeconds: stepSeconds,
            heartbeatTimes: beats.times)
        if response == nil, let thrown {
            // An error before any JSON was captured (a message refused before its stream).
            context.status = thrown.httpStatus
            context.json = thrown.code.map { ["code": .number(Double($0.rawValue))] }
        }
        // A step that failed with an API error passes when it expected that code or status.
        let expectsError = step.expectations.contains {
            switch $0 {
            case .code(let code): return code != 0
            case .status(let status): return !(200..<300).contains(status)
            case .error: return true
            default: return false
            }
        }
        context.error = thrown?.description
        if let thrown, !expectsError {
            return (StepFailure(step: label, expected: "success", actual: thrown.description, message: "the step failed"), [:], "\(label): error: \(thrown)")
        }
        for expectation in step.expectations {
            if let failure = context.check(expectation, variables: variables) {
                return (StepFailure(step: label, expected: failure.expected, actual: failure.actual, message: failure.message), [:], "")
            }
        }
        var captured: [String: JSONValue] = [:]
        for (name, path) in step.captures {
            guard let value = context.json?.value(atPath: path) else {
                return (StepFailure(step: label, expected: "a value at \(path) to capture as \(name)", actual: "nothing there", message: "capture failed"), [:], "")
            }
            captured[name] = value
        }
        let line = "\(label): ok" + (response.map { " (HTTP \($0.status)" + (json?["code"]?.intValue.map { ", code \($0)" } ?? "") + ")" } ?? "")
            + (outcome.map { " [\($0.ending.rawValue), \($0.events.count) events]" } ?? "")
        return (nil, captured, line)
    }

    /// Runs `body`, failing with a clear error after `seconds` of real time.
    func withTimeout<T: Sendable>(_ seconds: Double?, label: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let seconds else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
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
        guard let response = try? await transport.send(HTTPRequest(method: "GET", url: baseURL + "/_nemosim/clock", timeout: 10)),
            let now = (try? JSONValue.parse(response.body))?["now"]?.stringValue, let date = ISO8601.date(from: now)
        else { return nil }
        return date.timeIntervalSince1970
    }

    /// `${name}` in text becomes the captured value (strings as they are, anything else as JSON).
    static func substitute(_ text: String, _ variables: [String: JSONValue]) -> String {
        guard text.contains("${") else { return text }
        var result = text
        for (name, value) in variables { result = result.replacingOccurrences(of: "${\(name)}", with: value.stringValue ?? value.jsonString()) }
        return result
    }

    func substitute(_ text: String, _ variables: [String: JSONValue]) -> String { Self.substitute(text, variables) }

    /// In JSON, a string that is exactly `${name}` becomes the captured value
    /// itself (an object stays an object, e.g. a captured draft).
    static func substitute(_ value: JSONValue, _ variables: [String: JSONValue]) -> JSONValue {
        switch value {
        case .string(let text):
            if text.hasPrefix("${"), text.hasSuffix("}"), let whole = variables[String(text.dropFirst(2).dropLast())] { return whole }
            return .string(substitute(text, variables))
        case .array(let items): return .array(items.map { substitute($0, variables) })
        case .object(let object): return .object(object.mapValues { substitute($0, variables) })
        default: return value
        }
    }

    func substitute(_ value: JSONValue, _ variables: [String: JSONValue]) -> JSONValue { Self.substitute(value, variables) }

    func fixture(_ path: String, _ variables: [String: JSONValue]) -> URL {
        let path = substitute(path, variables)
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : fixturesDirectory.appendingPathComponent(path)
    }

    func admin(_ method: String, _ path: String, _ body: JSONValue?) async throws {
        let request = HTTPRequest(
            method: method, url: baseURL + "/_nemosim" + path,
            body: body.map { .data(Data($0.jsonString().utf8), contentType: "application/json") } ?? .none)
        let response = try await transport.send(request)
        guard (200..<300).contains(response.status) else {
            throw NemoError(kind: .usage, httpStatus: response.status, message: "admin \(path): \(String(decoding: response.body, as: UTF8.self))")
        }
    }

    /// What a step produced beyond the last response: a message's outcome,
    /// or JSON standing in for the response (a download's size and digest).
    struct StepOutput: Sendable {
        var outcome: MessageOutcome?
        var json: JSONValue?
    }

    func perform(
        _ action: StepAction, client: NemoClient, variables: [String: JSONValue], beats: HeartbeatTimes, actions: ActionList
    ) async throws -> StepOutput {
        switch action {
        case .token: try await client.issueToken()
        case .session: try await client.createSession()
        case .state: _ = try await client.state()
        case .credits: _ = try await client.credits()
        case .render:
            guard let draft = try await client.state().draft else { throw NemoError(kind: .usage, message: "no draft to render") }
            _ = try await client.submitRender(draft: draft)
        case .pollRender(let until):
            guard let draft = try await client.state().draft else { throw NemoError(kind: .usage, message: "no draft to render") }
            let job = try await client.submitRender(draft: draft)
            let final = try await client.waitForRender(id: job.id ?? "")
            if final.status.rawValue != until { throw NemoError(kind: .api, message: "render ended \(final.status), expected \(until)") }
        case .export(let to):
            let file = to.map { URL(fileURLWithPath: substitute($0, variables)) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-export-\(UUID().uuidString).mp4")
            _ = try await client.export(to: file)
            if to == nil { try? FileManager.default.removeItem(at: file) }
        case .upload(let files, let urls):
            if !files.isEmpty {
                _ = try await client.upload(files: files.map { name in
                    fixture(name, variables)
                })
            }
            if !urls.isEmpty { _ = try await client.upload(urls: urls.map { substitute($0, variables) }) }
        case .message(let text):
            let clock = await client.clock
            let outcome = try await client.sendAndWait(substitute(text, variables)) { event in
                switch event {
                case .agent(.heartbeat, _): beats.append(clock.now)
                case .stillWorking(let seconds): actions.append("said still working (\(Int(seconds / 60)) min)")
                default: break
                }
            }
            return StepOutput(outcome: outcome)
        case .download(let url, let to):
            return try await download(substitute(url, variables), to: to.map { substitute($0, variables) }, client: client)
        case .request(let method, let path, let headers, let json, let multipart):
            var all = await client.headers()
            // A scenario's header replaces the default of the same name.
            all.removeAll { pair in headers.keys.contains { $0.caseInsensitiveCompare(pair.name) == .orderedSame } }
            for (name, value) in headers { all.append((name, substitute(value, variables))) }
            var body: HTTPRequestBody = json.map { .data(Data(substitute($0, variables).jsonString().utf8), contentType: "application/json") } ?? .none
            if let multipart {
                body = .multipart(multipart.map { part in
                    if let file = part.file {
                        let url = fixture(file, variables)
                        return MultipartPart(
                            name: part.name, filename: part.filename.map { substitute($0, variables) } ?? url.lastPathComponent,
                            contentType: part.contentType ?? NemoClient.contentType(of: url.lastPathComponent), source: .file(path: url.path))
                    }
                    return MultipartPart(
                        name: part.name, filename: part.filename, contentType: part.contentType,
                        source: .data(Data(substitute(part.value ?? "", variables).utf8)))
                })
            }
            _ = try await client.transport.send(HTTPRequest(method: method, url: baseURL + substitute(path, variables), headers: all, body: body))
        case .advanceClock(let seconds):
            try await admin("POST", "/clock/advance", ["seconds": .number(seconds)])
        case .fault(let rule):
            try await admin("POST", "/faults", substitute(rule, variables))
        case .setCredits(let available):
            guard let user = await client.userID else { throw NemoError(kind: .usage, message: "set_credits needs a token first") }
            try await admin("PUT", "/accounts/\(user)/credits", ["available": .number(Double(available))])
        case .profile(let patch):
            try await admin("PATCH", "/profile", patch)
        }
        return StepOutput()
    }

    /// Downloads to a file and describes what came back: `{status, bytes,
    /// sha256, mp4, body, code}`. `body` is a JSON answer up to 64 KiB (an
    /// error envelope), `code` its envelope code. A path on the target is
    /// fetched with the client's token and headers; an absolute URL (a signed
    /// outputUrl) without them.
    func download(_ url: String, to: String?, client: NemoClient) async throws -> StepOutput {
        // Into a temporary file, moved to `to` only on success: an error
        // answer never replaces a file that is there.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-download-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        var headers: [(name: String, value: String)] = []
        var target = url
        if url.hasPrefix("/") {
            target = baseURL + url
            headers = await client.headers()
        }
        let response = try await client.transport.download(HTTPRequest(method: "GET", url: target, headers: headers, timeout: 3600), to: file, progress: nil)
        var digest = SHA256()
        var bytes = 0
        var head = Data()
        func take(_ chunk: Data) {
            if head.count < Self.describedBodyLimit { head.append(chunk.prefix(Self.describedBodyLimit - head.count)) }
            digest.update(data: chunk)
            bytes += chunk.count
        }
        if (200..<300).contains(response.status) {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { take(chunk) }
        } else {
            // An error answer stays in memory; the file is left as it was.
            take(response.body)
        }
        var json: [String: JSONValue] = [
            "status": .number(Double(response.status)), "bytes": .number(Double(bytes)),
            "sha256": .string(digest.finalize().map { String(format: "%02x", $0) }.joined()),
            // An MP4 (ISO BMFF) starts with a box whose type is `ftyp`.
            "mp4": .bool(head.count >= 8 && head[head.startIndex + 4..<head.startIndex + 8] == Data("ftyp".utf8)),
        ]
        if bytes <= Self.describedBodyLimit, let body = try? JSONValue.parse(head) {
            json["body"] = body
            if let code = body["code"], code.intValue != nil { json["code"] = code }
        }
        if let to, (200..<300).contains(response.status) {
            try FileManager.default.moveIntoPlace(file, at: URL(fileURLWithPath: to))
        }
        return StepOutput(json: .object(json))
    }

    /// How much of a download is kept to describe it (parsed as JSON when whole).
    static let describedBodyLimit = 64 * 1024
}

/// What a step produced, for its expectations.
struct CheckContext {
    var status: Int?
    var json: JSONValue?
    var outcome: MessageOutcome?
    var actions: [String]
    var simulatedSeconds: Double?
    /// When each heartbeat arrived, in the client's API seconds.
    var heartbeatTimes: [Double] = []
    /// The step's error, when it failed.
    var error: String?

    struct Failure {
        var expected: String
        var actual: String
        var message: String
    }

    func check(_ expectation: Expectation, variables: [String: JSONValue]) -> Failure? {
        func fail(_ expected: String, _ actual: String, _ message: String) -> Failure { Failure(expected: expected, actual: actual, message: message) }
        switch expectation {
        case .status(let expected):
            return status == expected ? nil : fail("HTTP \(expected)", status.map { "HTTP \($0)" } ?? "no response", "status differs")
        case .code(let expected):
            let code = json?["code"]?.intValue ?? (status.map { (200..<300).contains($0) } == true ? 0 : nil)
            return code == expected ? nil : fail("code \(expected)", code.map { "code \($0)" } ?? "no code", "envelope code differs")
        case .json(let path, let check):
            let value = json?.value(atPath: path)
            let shown = value.map { $0.jsonString() } ?? "nothing there; the response was \(json.map { String($0.jsonString().prefix(300)) } ?? "not JSON")"
            switch check {
            case .equals(let expected):
                let wanted = ScenarioRunner.substitute(expected, variables)
                let same = value == wanted || (value?.doubleValue != nil && value?.doubleValue == wanted.doubleValue && wanted.stringValue == nil)
                return same ? nil : fail("\(path) = \(wanted.jsonString())", shown, "value differs")
            case .contains(let text):
                return (value?.jsonString() ?? "").contains(text) ? nil : fail("\(path) contains \"\(text)\"", shown, "text not found")
            case .matches(let pattern):
                guard let value else { return fail("\(path) matches /\(pattern)/", shown, "no value") }
                let text = value.stringValue ?? value.jsonString()
                return text.range(of: pattern, options: .regularExpression) != nil ? nil : fail("\(path) matches /\(pattern)/", shown, "no match")
            case .exists(let flag):
                let exists = value != nil && value != .null
                return exists == flag ? nil : fail("\(path) \(flag ? "exists" : "absent")", shown, "presence differs")
            case .greaterThan(let n), .lessThan(let n), .atLeast(let n), .atMost(let n):
                guard let number = value?.doubleValue else { return fail("\(path) a number", shown, "not a number") }
                let ok: Bool
                let relation: String
                switch check {
                case .greaterThan: ok = number > n; relation = ">"
                case .lessThan: ok = number < n; relation = "<"
                case .atLeast: ok = number >= n; relation = ">="
                default: ok = number <= n; relation = "<="
                }
                return ok ? nil : fail("\(path) \(relation) \(n)", shown, "comparison failed")
            }
        case .eventsSeen(let kinds):
            let seen = Set(outcome?.events.map(\.kind) ?? [])
            let missing = kinds.filter { !seen.contains($0) }
            return missing.isEmpty ? nil : fail("events \(kinds.joined(separator: ", "))", "saw \(seen.sorted().joined(separator: ", "))", "missing \(missing.joined(separator: ", "))")
        case .textContains(let text):
            let texts = outcome?.texts.joined(separator: " ") ?? ""
            return texts.localizedCaseInsensitiveContains(text) ? nil : fail("text containing \"\(text)\"", "\"\(texts.prefix(200))\"", "text not found")
        case .silentClose(let flag):
            guard let outcome else { return fail("silent close \(flag)", "no message outcome", "not a message step") }
            let silent = outcome.ending == .silentClose
            return silent == flag ? nil : fail("silent close \(flag)", "ending \(outcome.ending.rawValue)", "ending differs")
        case .heartbeatsAtLeast(let count):
            let beats = outcome?.events.filter { $0 == .heartbeat }.count ?? 0
            return beats >= count ? nil : fail("at least \(count) heartbeats", "\(beats)", "too few heartbeats")
        case .heartbeatGapAtMost(let limit):
            let gaps = zip(heartbeatTimes, heartbeatTimes.dropFirst()).map { $1 - $0 }
            let widest = gaps.max() ?? 0
            return widest <= limit ? nil : fail("heartbeat gaps of at most \(limit) s", String(format: "a gap of %.1f s", widest), "heartbeats too far apart")
        case .action(let text):
            return actions.contains { $0.contains(text) } ? nil : fail("the client to have \(text)", actions.isEmpty ? "no action" : actions.joined(separator: "; "), "recovery differs")
        case .durationAtMost(let limit):
            guard let seconds = simulatedSeconds else { return fail("at most \(limit) simulated s", "no clock to measure the step", "duration unknown") }
            return seconds <= limit ? nil : fail("at most \(limit) simulated s", String(format: "%.1f s", seconds), "took too long")
        case .durationAtLeast(let limit):
            guard let seconds = simulatedSeconds else { return fail("at least \(limit) simulated s", "no clock to measure the step", "duration unknown") }
            return seconds >= limit ? nil : fail("at least \(limit) simulated s", String(format: "%.1f s", seconds), "ended too soon")
        case .ending(let expected):
            let ending = outcome?.ending.rawValue ?? "none (no message)"
            return ending == expected ? nil : fail("ending \(expected)", "ending \(ending)", "the message ended otherwise")
        case .streamTextContains(let text):
            let texts = (outcome?.events ?? []).compactMap { event -> String? in if case .text(let text) = event { return text } else { return nil } }
            let all = texts.joined(separator: " ")
            return all.localizedCaseInsensitiveContains(text) ? nil : fail("a streamed text containing \"\(text)\"", "\"\(all.prefix(200))\"", "text not streamed")
        case .error(let text):
            guard let error else { return fail("an error containing \"\(text)\"", "the step succeeded", "no error") }
            return error.localizedCaseInsensitiveContains(text) ? nil : fail("an error containing \"\(text)\"", error, "another error")
        case .textLacks(let text):
            guard let outcome else { return fail("no text containing \"\(text)\"", "no message outcome", "not a message step") }
            let texts = outcome.texts.joined(separator: " ")
            return texts.localizedCaseInsensitiveContains(text) ? fail("no text containing \"\(text)\"", "\"\(texts.prefix(200))\"", "unwanted text kept") : nil
        }
    }
}

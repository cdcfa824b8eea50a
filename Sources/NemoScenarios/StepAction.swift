import Foundation
import NemoClient
import NemoCore

/// What a step does. A step kind lives in this file alone: its case, its
/// name, whether it needs the simulator, how it is read from YAML (`parse`)
/// and what it does (`perform`).
public enum StepAction: Sendable, Hashable {
    case token, session, state, credits, render, pollRender(until: String), export(to: String?)
    case upload(files: [String], urls: [String])
    case message(String)
    case request(method: String, path: String, headers: [String: String], json: JSONValue?, multipart: [PartSpec]?)
    /// A GET whose body goes to a file (a render's outputUrl, the fallback download).
    case download(url: String, to: String?)
    // Simulator only (the admin API):
    case advanceClock(Double)
    case fault(JSONValue)
    case setCredits(Int)
    case profile(JSONValue)

    var needsSimulator: Bool {
        switch self {
        case .advanceClock, .fault, .setCredits, .profile: return true
        case .request(_, let path, _, _, _): return path.hasPrefix("/_nemosim/")
        default: return false
        }
    }

    var name: String {
        switch self {
        case .token: return "token"
        case .session: return "session"
        case .state: return "state"
        case .credits: return "credits"
        case .render: return "render"
        case .pollRender: return "poll_render"
        case .export: return "export"
        case .upload: return "upload"
        case .message: return "message"
        case .request(let method, let path, _, _, _): return "request \(method) \(path)"
        case .download: return "download"
        case .advanceClock(let seconds): return "advance_clock \(CheckedNumber.clampedInteger(seconds, in: 0...Int.max)) s"
        case .fault: return "fault"
        case .setCredits(let n): return "set_credits \(n)"
        case .profile: return "profile"
        }
    }
}

/// One part of a raw request's multipart body: a file (streamed) or a value.
public struct PartSpec: Sendable, Hashable {
    public var name: String
    /// A fixture path (relative to Fixtures/) or an absolute path.
    public var file: String?
    public var value: String?
    public var filename: String?
    public var contentType: String?
}

extension StepAction {
    /// The keys a step's action may have, in the README's order.
    static let kinds = ["token", "session", "state", "credits", "render", "poll_render", "export", "upload", "message", "request",
        "download", "advance_clock", "fault", "set_credits", "profile"]

    /// The action of a step from its key and arguments, or an error naming
    /// the file and line.
    static func parse(_ kind: String, _ arguments: JSONValue, line: Int, file: String) throws -> StepAction {
        func fail(_ line: Int, _ message: String) -> ScenarioFileError { ScenarioFileError(file: file, line: line, message: message) }
        let action: StepAction
        switch kind {
        case "token": action = .token
        case "session": action = .session
        case "state": action = .state
        case "credits": action = .credits
        case "render": action = .render
        case "poll_render": action = .pollRender(until: arguments["until"]?.stringValue ?? "completed")
        case "export": action = .export(to: arguments["to"]?.stringValue)
        case "upload":
            action = .upload(files: arguments["files"]?.arrayValue?.compactMap(\.stringValue) ?? [], urls: arguments["urls"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        case "message":
            guard let text = arguments.stringValue ?? arguments["text"]?.stringValue else { throw fail(line, "message needs its text: `- message: \"make a video\"`") }
            action = .message(text)
        case "request":
            guard let method = arguments["method"]?.stringValue, let path = arguments["path"]?.stringValue else {
                throw fail(line, "request needs method and path")
            }
            for key in (arguments.objectValue ?? [:]).keys where !["method", "path", "headers", "json", "multipart"].contains(key) {
                throw fail(line, "unknown request key \"\(key)\" (known: method, path, headers, json, multipart)")
            }
            guard HeaderText.isValidName(method) else { throw fail(line, "request method \(method.debugDescription) is not an HTTP method (letters only)") }
            guard HeaderText.isValidValue(path), !path.contains(" ") else {
                throw fail(line, "request path \(path.debugDescription) has a space, line break or NUL: percent-encode it (%20)")
            }
            var headers: [String: String] = [:]
            for (name, value) in arguments["headers"]?.objectValue ?? [:] {
                guard let text = value.stringValue ?? value.doubleValue.map({ $0.rounded() == $0 && abs($0) < 1e15 ? String(Int($0)) : String($0) }) else {
                    throw fail(line, "header \(name) needs a text value, e.g. \"\(name): text\"")
                }
                guard HeaderText.isValidName(name) else {
                    throw fail(line, "header name \(name.debugDescription) is not a valid HTTP header name (letters, digits, - and a few symbols; no colon, space or line break)")
                }
                guard HeaderText.isValidValue(text) else {
                    throw fail(line, "header \(name) has a line break or NUL in its value, which would inject another header: remove it")
                }
                headers[name] = text
            }
            var parts: [PartSpec]?
            if let multipart = arguments["multipart"] {
                guard let items = multipart.arrayValue, !items.isEmpty else {
                    throw fail(line, "multipart needs a list of parts: [{name: files, file: media/clip.mp4}, {name: note, value: text}]")
                }
                guard arguments["json"] == nil else { throw fail(line, "a request has json or multipart, not both") }
                parts = try items.map { item in
                    guard let name = item["name"]?.stringValue else { throw fail(line, "each multipart part needs a name") }
                    let file = item["file"]?.stringValue
                    let value = item["value"]?.stringValue
                    guard (file == nil) != (value == nil) else {
                        throw fail(line, "multipart part \"\(name)\" needs one of file (a path) or value (text)")
                    }
                    return PartSpec(
                        name: name, file: file, value: value, filename: item["filename"]?.stringValue,
                        contentType: item["content_type"]?.stringValue)
                }
            }
            action = .request(method: method.uppercased(), path: path, headers: headers, json: arguments["json"], multipart: parts)
        case "download":
            for key in (arguments.objectValue ?? [:]).keys where !["url", "to"].contains(key) {
                throw fail(line, "unknown download key \"\(key)\" (known: url, to)")
            }
            guard let url = arguments.stringValue ?? arguments["url"]?.stringValue else {
                throw fail(line, "download needs a url (absolute, or a path on the target): `- download: {url: \"${output_url}\"}`")
            }
            action = .download(url: url, to: arguments["to"]?.stringValue)
        case "advance_clock":
            guard let seconds = CheckedNumber.seconds(
                arguments.doubleValue ?? arguments["seconds"]?.doubleValue, in: 0...CheckedNumber.maximumSimulatedSeconds)
            else {
                throw fail(line, "advance_clock needs seconds from 0 to \(Int(CheckedNumber.maximumSimulatedSeconds)) (about 317 years): `- advance_clock: 3600`")
            }
            action = .advanceClock(seconds)
        case "fault":
            guard arguments["respond"] != nil else { throw fail(line, "fault needs respond, e.g. {match: {path: /api/credits/balance/simple}, respond: {code: 1001}}") }
            action = .fault(arguments)
        case "set_credits":
            guard let available = arguments.intValue ?? arguments["available"]?.intValue else { throw fail(line, "set_credits needs a number") }
            action = .setCredits(available)
        default:
            guard case .object = arguments else { throw fail(line, "profile needs a mapping of profile keys") }
            action = .profile(arguments)
        }
        return action
    }
}

extension ScenarioRunner {
    /// Performs a step's action and returns what that action produced: the
    /// answer of its own call (after the client's recovery rules, the last
    /// one), a message's outcome, a download's description. An API error
    /// is thrown as it is (it keeps the answer it came in).
    func perform(_ action: StepAction, client: NemoClient, variables: [String: JSONValue], beats: HeartbeatTimes) async throws -> StepResult {
        switch action {
        case .token: return StepResult(try await client.answer(.issueToken).response)
        case .session: return StepResult(try await client.answer(.createSession()).response)
        case .state: return StepResult(try await client.answer(.state).response)
        case .credits: return StepResult(try await client.answer(.credits).response)
        case .render:
            guard let draft = try await client.state().draft else { throw NemoError(kind: .usage, message: "no draft to render") }
            return StepResult(try await client.answer(.submitRender(draft: draft)).response)
        case .pollRender(let until):
            guard let draft = try await client.state().draft else { throw NemoError(kind: .usage, message: "no draft to render") }
            let job = try await client.submitRender(draft: draft)
            let final = try await client.answer(.waitForRender(id: job.id ?? ""))
            if final.value.status.rawValue != until {
                throw NemoError(kind: .api, message: "render ended \(final.value.status), expected \(until)", response: final.response)
            }
            return StepResult(final.response)
        case .export(let to):
            let file = to.map { URL(fileURLWithPath: substitute($0, variables)) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-export-\(UUID().uuidString).mp4")
            defer { if to == nil { try? FileManager.default.removeItem(at: file) } }
            return StepResult(try await client.answer(.export(to: file)).response)
        case .upload(let files, let urls):
            var last: ClientResponse?
            if !files.isEmpty { last = try await client.answer(.upload(files: files.map { fixture($0, variables) })).response }
            if !urls.isEmpty { last = try await client.answer(.upload(urls: urls.map { substitute($0, variables) })).response }
            return last.map(StepResult.init) ?? StepResult()
        case .message(let text):
            let clock = await client.clock
            let outcome = try await client.sendAndWait(substitute(text, variables)) { event in
                if case .agent(.heartbeat, _) = event { beats.append(clock.now) }
            }
            return StepResult(outcome: outcome)
        case .download(let url, let to):
            let described = try await download(substitute(url, variables), to: to.map { substitute($0, variables) }, client: client)
            var result = StepResult(json: described)
            result.status = described["status"]?.intValue
            return result
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
            let request = ClientRequest(method: method, url: baseURL + substitute(path, variables), headers: all, body: body)
            do {
                return StepResult(try await client.transport.send(request))
            } catch let error as TransportError {
                throw NemoError(kind: .transport, message: "\(method) \(path): \(error)")
            }
        case .advanceClock(let seconds):
            return StepResult(try await admin("POST", "/clock/advance", ["seconds": .number(seconds)]))
        case .fault(let rule):
            return StepResult(try await admin("POST", "/faults", substitute(rule, variables)))
        case .setCredits(let available):
            guard let user = await client.userID else { throw NemoError(kind: .usage, message: "set_credits needs a token first") }
            return StepResult(try await admin("PUT", "/accounts/\(user)/credits", ["available": .number(Double(available))]))
        case .profile(let patch):
            return StepResult(try await admin("PATCH", "/profile", patch))
        }
    }
}

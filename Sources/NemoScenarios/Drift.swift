import Foundation
import NemoClient
import NemoCore
import NemoRecording
import NemoReports
import NemoResources
import NemoSimulator

/// How far recordings (of production, or of another simulator) are from
/// what a profile models (`nemosim drift`):
/// - **distributions**: each key ``RecordingObservations`` reads (heartbeat
///   interval, ratios, dialect, durations) against the profile's value,
///   within a tolerance and only with enough observations;
/// - **structure**: the recorded requests sent again, in order, each at its
///   recorded moment (the simulator's clock moved forward to it), to an embedded simulator running the profile (tokens,
///   session and task ids mapped from the recorded answers to the live
///   ones); per endpoint, the statuses and envelope codes, the answers'
///   fields and their JSON types, each seen on one side only.
public struct DriftReport: Sendable {
    /// One key of the profile against the recordings.
    public struct KeyDrift: Sendable {
        public var key: String
        public var profile: JSONValue
        public var observed: JSONValue?
        public var observations: Int
        public var drifted: Bool
        /// The tolerance, or why the key was not judged.
        public var note: String
    }

    /// One endpoint's differences between the recorded answers and the simulator's.
    public struct EndpointDrift: Sendable {
        public var endpoint: String
        public var exchanges: Int
        public var differences: [String]
    }

    public var profileName: String
    public var keys: [KeyDrift]
    public var endpoints: [EndpointDrift]
    /// Recorded requests not sent again, and why (a body not recorded, a path outside the API).
    public var notReplayed: [String: Int]
    public var observations: RecordingObservations

    public init(profileName: String, keys: [KeyDrift], endpoints: [EndpointDrift], notReplayed: [String: Int], observations: RecordingObservations) {
        self.profileName = profileName
        self.keys = keys
        self.endpoints = endpoints
        self.notReplayed = notReplayed
        self.observations = observations
    }

    public var drifted: Bool { keys.contains(where: \.drifted) || endpoints.contains { !$0.differences.isEmpty } }
    public var driftedKeys: [String] { keys.filter(\.drifted).map(\.key) }

    // MARK: Distributions

    /// Tolerances: the heartbeat interval within 10 %; a ratio within 5
    /// points, judged from 200 observations; the dialect and event ids
    /// exactly; a duration range's ends within 15 % from 20 observations
    /// (from fewer, only durations outside the range by more than 15 %).
    public static func keyDrifts(_ observations: RecordingObservations, profile: BehaviourProfile) -> [KeyDrift] {
        let values = profile.jsonValue
        return observations.keys(renderQueueSeconds: profile.renderQueueSeconds).map { observed in
            let expected = values[observed.key] ?? .null
            var drift = KeyDrift(key: observed.key, profile: expected, observed: observed.value, observations: observed.observations, drifted: false, note: "")
            guard let value = observed.value else {
                drift.note = "no evidence in the recordings"
                return drift
            }
            switch observed.key {
            case "heartbeat_interval_seconds":
                guard observed.observations >= 10, let seen = value.doubleValue, let want = expected.doubleValue else {
                    drift.note = "fewer than 10 heartbeat gaps"
                    return drift
                }
                drift.drifted = abs(seen - want) > 0.10 * want
                drift.note = "within 10 %"
            case "sse_dialect", "sse_event_ids", "initial_credits":
                drift.drifted = value != expected
                drift.note = "exact"
            case let key where key.hasSuffix("_ratio"):
                guard observed.observations >= 200, let seen = value.doubleValue, let want = expected.doubleValue else {
                    drift.note = "fewer than 200 observations: not judged"
                    return drift
                }
                drift.drifted = abs(seen - want) > 0.05 + 1e-9
                drift.note = "within 5 points"
            default:
                guard let seen = value.arrayValue?.compactMap(\.doubleValue), seen.count == 2,
                    let want = expected.arrayValue?.compactMap(\.doubleValue), want.count == 2
                else {
                    drift.note = "not a range"
                    return drift
                }
                if observed.observations >= 20 {
                    drift.drifted = abs(seen[0] - want[0]) > 0.15 * want[0] || abs(seen[1] - want[1]) > 0.15 * want[1]
                    drift.note = "ends within 15 %"
                } else {
                    drift.drifted = seen[0] < want[0] * 0.85 || seen[1] > want[1] * 1.15
                    drift.note = "fewer than 20 observations: only durations outside the range by 15 % count"
                }
            }
            return drift
        }
    }

    // MARK: Structure

    /// The JSON keys whose recorded values stand for ids the simulator
    /// makes anew (mapped recorded → live for the requests that follow).
    static let mappedKeys: Set<String> = ["token", "session_id", "task_id", "user_id", "claim_token", "id"]

    /// Sends the recordings' requests again to an embedded simulator
    /// running `profile` at `timeScale` and compares its answers.
    public static func structure(
        _ recordings: [Recording], profile: BehaviourProfile, seed: UInt64 = 1, timeScale: Double = 1000, progress: ((Int, Int) -> Void)? = nil
    ) async throws -> (endpoints: [EndpointDrift], notReplayed: [String: Int]) {
        var harness = profile
        // The harness asks for many tokens from one address; the per-address limit is not what is compared.
        harness.tokensPerIPPerHour = 1_000_000
        harness.tokensPerIPPerWindow = 1_000_000
        let server = try await SimulatorServer.start(.init(port: 0, seed: seed, timeScale: timeScale, profile: harness))
        let transport = CurlTransport()
        defer { transport.shutdown() }
        var recorded: [String: Shape] = [:]
        var live: [String: Shape] = [:]
        var counts: [String: Int] = [:]
        var skipped: [String: Int] = [:]
        let total = recordings.map(\.entries.count).reduce(0, +)
        var done = 0
        for recording in recordings {
            var mapping: [String: String] = [:]
            let scale = recording.metadata?.timeScale.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 1
            let origin = recording.startOffsetsMs
            let began = server.simulation.clock.elapsed
            for (index, entry) in recording.entries.enumerated() {
                done += 1
                progress?(done, total)
                let path = URLComponents(string: entry.request.url)?.percentEncodedPath ?? ""
                guard let route = Route.resolve(method: entry.request.method, path: path)?.route ?? Route.all.first(where: { $0.method == entry.request.method && $0.match(path) != nil }) else {
                    skipped["outside the API (\(path.hasPrefix("/_nemosim/") ? "the simulator's admin API or media" : "no such route"))", default: 0] += 1
                    continue
                }
                guard let request = replayable(entry, route: route, base: server.url, mapping: mapping) else {
                    skipped["a body the recording does not hold", default: 0] += 1
                    continue
                }
                // At its recorded moment in the API's time: the simulator's
                // clock moved forward to it (renders finish, tokens expire as
                // they did), so that a long pause in the recording (a user
                // away for hours) costs no wait.
                let due = origin[index] / 1000 * scale
                let now = server.simulation.clock.elapsed - began
                if due > now { try? await server.simulation.advanceClock(by: due - now) }
                let answer = try? await transport.send(request)
                let key = "\(route.method) \(route.template)"
                counts[key, default: 0] += 1
                let recordedJSON = json(entry)
                let liveJSON = answer.flatMap { try? JSONValue.parse($0.body) }
                recorded[key, default: Shape()].add(status: entry.response.status, json: recordedJSON, stream: entry.isEventStream)
                live[key, default: Shape()].add(
                    status: answer?.status ?? 0, json: liveJSON,
                    stream: answer?.headers.contains { $0.name.lowercased() == "content-type" && $0.value.hasPrefix("text/event-stream") } ?? false)
                if let recordedJSON, let liveJSON { learn(recordedJSON, liveJSON, into: &mapping) }
            }
        }
        await server.stop()
        let endpoints = counts.keys.sorted().map { key in
            EndpointDrift(endpoint: key, exchanges: counts[key] ?? 0, differences: Shape.differences(recorded[key] ?? Shape(), live[key] ?? Shape()))
        }
        return (endpoints, skipped)
    }

    /// The request to send for a recorded one: the simulator's URL, the
    /// recorded headers and body with recorded ids replaced by live ones;
    /// an upload's files (not recorded) as a shipped sample of each file's type.
    static func replayable(_ entry: HAREntry, route: Route, base: String, mapping: [String: String]) -> ClientRequest? {
        func mapped(_ text: String) -> String {
            var text = text
            for (from, to) in mapping.sorted(by: { $0.key.count > $1.key.count }) where !from.isEmpty { text = text.replacingOccurrences(of: from, with: to) }
            return text
        }
        let components = URLComponents(string: entry.request.url)
        let pathAndQuery = (components?.percentEncodedPath ?? "") + (components?.percentEncodedQuery.map { "?" + $0 } ?? "")
        var headers: [(name: String, value: String)] = []
        for header in entry.request.headers where !header.name.hasPrefix(":") {
            let lower = header.name.lowercased()
            guard !["host", "content-length", "connection", "transfer-encoding", "content-type", "accept-encoding"].contains(lower) else { continue }
            headers.append((header.name, mapped(header.value)))
        }
        var body: HTTPRequestBody = .none
        if let post = entry.request.postData {
            if post.mimeType.lowercased().hasPrefix("multipart/") {
                guard let params = post.params, !params.isEmpty else { return nil }
                var parts: [MultipartPart] = []
                for param in params {
                    guard let name = param.fileName else { continue }
                    let sample = name.lowercased().hasSuffix(".png") || name.lowercased().hasSuffix(".jpg") ? "Fixtures/media/logo.png" : "Fixtures/media/clip.mp4"
                    guard let data = EmbeddedResources.data(sample) else { return nil }
                    parts.append(MultipartPart(name: param.name, filename: name, contentType: param.contentType ?? "application/octet-stream", source: .data(data)))
                }
                body = .multipart(parts)
            } else if !post.text.isEmpty {
                body = .data(Data(mapped(post.text).utf8), contentType: post.mimeType)
            }
        }
        return ClientRequest(method: entry.request.method, url: base + mapped(pathAndQuery), headers: headers, body: body, timeout: 600)
    }

    /// A JSON answer's value (nil for any other body).
    static func json(_ entry: HAREntry) -> JSONValue? {
        let data = entry.responseBody
        guard data.first == UInt8(ascii: "{") || data.first == UInt8(ascii: "[") else { return nil }
        return try? JSONValue.parse(data)
    }

    /// Notes recorded → live values of id-like fields at the same place.
    static func learn(_ recorded: JSONValue, _ live: JSONValue, into mapping: inout [String: String], key: String? = nil) {
        switch (recorded, live) {
        case (.object(let a), .object(let b)):
            for (name, value) in a { if let other = b[name] { learn(value, other, into: &mapping, key: name) } }
        case (.array(let a), .array(let b)):
            for (x, y) in zip(a, b) { learn(x, y, into: &mapping, key: key) }
        case (.string(let a), .string(let b)):
            if let key, mappedKeys.contains(key), a != b, a.count >= 4 { mapping[a] = b }
        default:
            break
        }
    }

    /// The statuses, envelope codes, and field paths with their JSON types
    /// an endpoint's answers showed.
    struct Shape {
        var outcomes: Set<String> = []
        var fields: [String: Set<String>] = [:]

        mutating func add(status: Int, json: JSONValue?, stream: Bool) {
            let code = json?["code"]?.intValue.map { " code \($0)" } ?? ""
            let outcome = "HTTP \(status)\(code)\(stream ? " event stream" : "")"
            outcomes.insert(outcome)
            // Fields of successful answers: errors carry only the envelope.
            guard let json, json["code"]?.intValue ?? 0 == 0, (200..<300).contains(status) else { return }
            walk(json, path: "")
        }

        private mutating func walk(_ value: JSONValue, path: String) {
            let type: String
            switch value {
            case .object(let object):
                type = "object"
                for (name, child) in object { walk(child, path: path.isEmpty ? name : path + "." + name) }
            case .array(let items):
                type = "array"
                for item in items { walk(item, path: path + "[]") }
            case .string: type = "string"
            case .number: type = "number"
            case .bool: type = "boolean"
            case .null: type = "null"
            }
            if !path.isEmpty { fields[path, default: []].insert(type) }
        }

        static func differences(_ recorded: Shape, _ live: Shape) -> [String] {
            var lines: [String] = []
            for outcome in recorded.outcomes.subtracting(live.outcomes).sorted() { lines.append("recorded only: \(outcome)") }
            for outcome in live.outcomes.subtracting(recorded.outcomes).sorted() { lines.append("simulator only: \(outcome)") }
            for path in Set(recorded.fields.keys).subtracting(live.fields.keys).sorted() { lines.append("field only recorded: \(path)") }
            for path in Set(live.fields.keys).subtracting(recorded.fields.keys).sorted() { lines.append("field only from the simulator: \(path)") }
            for path in Set(recorded.fields.keys).intersection(live.fields.keys).sorted() {
                let a = recorded.fields[path] ?? [], b = live.fields[path] ?? []
                if a != b { lines.append("type of \(path): recorded \(a.sorted().joined(separator: "|")), simulator \(b.sorted().joined(separator: "|"))") }
            }
            return lines
        }
    }
}

import NemoCore
import Synchronization

/// What an armed fault does to a matching request. A fault kind lives in
/// this file alone: its case, how it is read and written, and what it does
/// (``failure``, ``delaySeconds``, ``disconnects``, ``stalledStream(_:)``,
/// ``dropsAfterEvents``, ``failsRender``), which the HTTP front only carries out.
public enum FaultResponse: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Answer with this envelope code (any documented code).
    case code(Int)
    /// Answer with this HTTP status.
    case httpStatus(Int)
    /// Answer normally, after this many simulated seconds.
    case delay(seconds: Double)
    /// Close the connection with no response.
    case disconnect
    /// Event stream: send heartbeats only, for this many simulated seconds.
    case stall(seconds: Double)
    /// Event stream: cut the connection after this many events.
    case dropAfterEvents(Int)
    /// Render submission: the job is accepted and then fails.
    case renderFails

    private enum CodingKeys: String, CodingKey {
        case code, httpStatus = "http_status", delaySeconds = "delay_seconds", disconnect
        case stallSeconds = "stall_seconds", dropAfterEvents = "drop_after_events", renderFails = "render_fails"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let present = container.allKeys
        guard present.count == 1, let key = present.first else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: [], debugDescription:
                    "respond must have exactly one of code, http_status, delay_seconds, disconnect, stall_seconds, drop_after_events, render_fails"))
        }
        switch key {
        case .code:
            let code = try container.decode(Int.self, forKey: .code)
            guard ErrorCode(code).isDocumented, code != 0 else {
                throw DecodingError.dataCorruptedError(forKey: .code, in: container, debugDescription: "code must be one of 1001, 1002, 2001, 4001, 4002")
            }
            self = .code(code)
        case .httpStatus:
            let status = try container.decode(Int.self, forKey: .httpStatus)
            guard Self.statusesWithBody.contains(status), ![204, 205, 304].contains(status) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .httpStatus, in: container,
                    debugDescription: "http_status must be 200-599 and not 204, 205 or 304 (the answer carries a JSON body, which those statuses cannot)")
            }
            self = .httpStatus(status)
        case .delaySeconds: self = .delay(seconds: try Self.positive(container, .delaySeconds))
        case .disconnect:
            guard try container.decode(Bool.self, forKey: .disconnect) else {
                throw DecodingError.dataCorruptedError(forKey: .disconnect, in: container, debugDescription: "disconnect must be true")
            }
            self = .disconnect
        case .stallSeconds: self = .stall(seconds: try Self.positive(container, .stallSeconds))
        case .dropAfterEvents:
            let count = try container.decode(Int.self, forKey: .dropAfterEvents)
            guard count >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .dropAfterEvents, in: container, debugDescription: "drop_after_events must be 0 or more")
            }
            self = .dropAfterEvents(count)
        case .renderFails:
            guard try container.decode(Bool.self, forKey: .renderFails) else {
                throw DecodingError.dataCorruptedError(forKey: .renderFails, in: container, debugDescription: "render_fails must be true")
            }
            self = .renderFails
        }
    }

    /// The statuses a fault may answer with: those that carry a body
    /// (1xx, 204, 205 and 304 cannot, and would leave the body unframed).
    static let statusesWithBody = 200...599

    private static func positive(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Double {
        let value = try container.decode(Double.self, forKey: key)
        guard value >= 0, value <= 86_400 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(key.stringValue) must be 0 to 86400 (one simulated day)")
        }
        return value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .code(let code): try container.encode(code, forKey: .code)
        case .httpStatus(let status): try container.encode(status, forKey: .httpStatus)
        case .delay(let seconds): try container.encode(seconds, forKey: .delaySeconds)
        case .disconnect: try container.encode(true, forKey: .disconnect)
        case .stall(let seconds): try container.encode(seconds, forKey: .stallSeconds)
        case .dropAfterEvents(let count): try container.encode(count, forKey: .dropAfterEvents)
        case .renderFails: try container.encode(true, forKey: .renderFails)
        }
    }

    /// The error answered instead of the route's answer, if this fault is one.
    var failure: SimulatorFailure? {
        switch self {
        case .code(let code):
            return .code(ErrorCode(code), "\(ErrorCode(code).meaning) (fault injected by nemosim)")
        case .httpStatus(let status):
            let message = DocumentedHTTPError(rawValue: status).map { "\($0.meaning): \($0.reaction.advice)" } ?? "HTTP \(status)"
            return .http(status, "\(message) (fault injected by nemosim)")
        default:
            return nil
        }
    }

    /// Simulated seconds to wait before answering normally.
    var delaySeconds: Double? {
        if case .delay(let seconds) = self { return seconds }
        return nil
    }

    /// Close the connection with no answer.
    var disconnects: Bool { self == .disconnect }

    /// An event stream of heartbeats only in place of the operation's events
    /// (they carry no id: a reconnect resumes where the real stream was).
    func stalledStream(heartbeatInterval: Double, messageIndex: Int) -> EventSchedule? {
        guard case .stall(let seconds) = self else { return nil }
        return EventSchedule(milestones: [], heartbeatInterval: heartbeatInterval, heartbeatsUntil: seconds + heartbeatInterval / 2, messageIndex: messageIndex)
    }

    /// An event stream cut off after this many events.
    var dropsAfterEvents: Int? {
        if case .dropAfterEvents(let count) = self { return count }
        return nil
    }

    /// A render submission accepted, then failing.
    var failsRender: Bool { self == .renderFails }

    public var description: String {
        switch self {
        case .code(let code): return "code \(code)"
        case .httpStatus(let status): return "HTTP \(status)"
        case .delay(let seconds): return "delay \(seconds)s"
        case .disconnect: return "disconnect"
        case .stall(let seconds): return "stall \(seconds)s"
        case .dropAfterEvents(let count): return "drop after \(count) events"
        case .renderFails: return "render fails"
        }
    }
}

/// An armed fault: which requests it matches, what it does, how many times.
public struct FaultRule: Sendable, Hashable, Codable {
    public struct Match: Sendable, Hashable, Codable {
        /// Any method when nil.
        public var method: String?
        /// Exact path, or a prefix ending in `*`; any path when nil.
        public var path: String?

        public init(method: String? = nil, path: String? = nil) {
            self.method = method
            self.path = path
        }

        func matches(method: String, path: String) -> Bool {
            if let expected = self.method, expected.uppercased() != method.uppercased() { return false }
            guard let pattern = self.path else { return true }
            if pattern.hasSuffix("*") { return path.hasPrefix(String(pattern.dropLast())) }
            return pattern == path
        }
    }

    public var id: Int
    public var match: Match
    public var respond: FaultResponse
    /// How many more requests it applies to; nil = every matching request.
    public var times: Int?
    /// How many matching requests it lets through before it applies (0:
    /// the next one), so that a plan can aim at the second message.
    public var skip: Int

    private enum CodingKeys: String, CodingKey { case id, match, respond, times, skip }

    public init(id: Int = 0, match: Match, respond: FaultResponse, times: Int? = 1, skip: Int = 0) {
        self.id = id
        self.match = match
        self.respond = respond
        self.times = times
        self.skip = skip
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(Int.self, forKey: .id) ?? 0
        match = try container.decodeIfPresent(Match.self, forKey: .match) ?? Match()
        respond = try container.decode(FaultResponse.self, forKey: .respond)
        times = try container.decodeIfPresent(Int.self, forKey: .times) ?? 1
        if let times, times < 1 {
            throw DecodingError.dataCorruptedError(forKey: .times, in: container, debugDescription: "times must be 1 or more (omit it for once)")
        }
        skip = try container.decodeIfPresent(Int.self, forKey: .skip) ?? 0
        guard (0...1_000_000).contains(skip) else {
            throw DecodingError.dataCorruptedError(forKey: .skip, in: container, debugDescription: "skip must be 0 to 1000000 (matching requests let through first)")
        }
    }
}

/// The armed faults, lock-protected so the HTTP front consults them without
/// a hop to the simulation actor.
public final class FaultBoard: Sendable {
    private let state = Mutex<(rules: [FaultRule], nextID: Int)>(([], 1))
    /// The number of armed faults, readable without the lock (the polled
    /// routes check it on every request).
    private let armed = Atomic<Int>(0)

    public init() {}

    /// The most faults armed at once: each request scans them, so the
    /// table is bounded (``arm(_:)`` refuses beyond it).
    public static let maximumArmed = 1000

    /// Arms a fault; returns it with its id. Refused (HTTP 400) when
    /// ``maximumArmed`` faults are armed already.
    @discardableResult
    public func arm(_ rule: FaultRule) throws(SimulatorFailure) -> FaultRule {
        try state.withLock { state throws(SimulatorFailure) in
            guard state.rules.count < Self.maximumArmed else {
                throw .badRequest("\(Self.maximumArmed) faults are armed already: clear them (DELETE /_nemosim/faults) or let them be used first")
            }
            var rule = rule
            rule.id = state.nextID
            state.nextID += 1
            state.rules.append(rule)
            armed.store(state.rules.count, ordering: .releasing)
            return rule
        }
    }

    public var rules: [FaultRule] { state.withLock { $0.rules } }

    public func clear() {
        state.withLock { state in
            state.rules = []
            armed.store(0, ordering: .releasing)
        }
    }

    /// Whether a fault is armed for this request (without using it up).
    public func matches(method: String, path: String) -> Bool {
        guard armed.load(ordering: .acquiring) > 0 else { return false }
        return state.withLock { state in state.rules.contains { $0.match.matches(method: method, path: path) } }
    }

    /// The fault for this request, if one matches (its count goes down).
    public func take(method: String, path: String) -> FaultResponse? {
        state.withLock { state in
            guard !state.rules.isEmpty,
                let index = state.rules.firstIndex(where: { $0.match.matches(method: method, path: path) })
            else { return nil }
            // The first matching rule takes the request; while it skips, it
            // lets the request through untouched.
            if state.rules[index].skip > 0 {
                state.rules[index].skip -= 1
                return nil
            }
            let response = state.rules[index].respond
            if let times = state.rules[index].times {
                if times <= 1 { state.rules.remove(at: index) } else { state.rules[index].times = times - 1 }
                armed.store(state.rules.count, ordering: .releasing)
            }
            return response
        }
    }
}

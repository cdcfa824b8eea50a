import Foundation
import ServerSentEvents

/// One thing the agent said on `/run_sse`, whichever dialect carried it.
public enum AgentEvent: Sendable, Hashable {
    /// Text for the user (after translating GUI words).
    case text(String)
    /// The agent called a tool; keep it internal.
    case toolCall(name: String, args: JSONValue)
    /// A tool finished.
    case toolResult(name: String, result: JSONValue)
    /// The backend is still working (a `heartbeat` event, an empty `data:`
    /// line, or a comment line).
    case heartbeat
    /// The backend reported an error in the stream.
    case error(message: String, code: String?)
    /// Something this model does not know; the raw `data` is kept.
    case unknown(String)

    /// A short name of the case, for logs and expectations (`text`,
    /// `tool_call`, `tool_result`, `heartbeat`, `error`, `unknown`).
    public var kind: String {
        switch self {
        case .text: return "text"
        case .toolCall: return "tool_call"
        case .toolResult: return "tool_result"
        case .heartbeat: return "heartbeat"
        case .error: return "error"
        case .unknown: return "unknown"
        }
    }

    /// Whether this is the vendor's trailing "I encountered a temporary issue"
    /// text, which clients ignore.
    public var isTemporaryIssueNotice: Bool {
        if case .text(let text) = self { return text.localizedCaseInsensitiveContains("encountered a temporary issue") }
        return false
    }
}

/// The two shapes of agent events on the wire.
public enum SSEDialect: String, Sendable, Hashable, Codable, CaseIterable {
    /// The vendor reference's shape: `{"type": "text", "content": "..."}`.
    case typed = "type"
    /// Google ADK's shape: `{"content": {"parts": [{"text": ...}]}, "author": ...}`.
    case adk
}

/// Reads agent events from event-stream items, in either dialect.
public enum AgentEventDecoder {
    /// The agent events an event-stream item carries (an ADK event may carry
    /// several parts; a comment counts as a heartbeat; a retry as nothing).
    public static func events(from item: ServerSentEventItem) -> [AgentEvent] {
        switch item {
        case .event(let event): return events(fromData: event.data)
        case .comment: return [.heartbeat]
        case .retry: return []
        }
    }

    /// The agent events of one event's `data`.
    public static func events(fromData data: String) -> [AgentEvent] {
        if data.allSatisfy(\.isWhitespace) { return [.heartbeat] }
        guard let json = try? JSONValue.parse(data), case .object(let object) = json else {
            return [.unknown(data)]
        }
        if let type = object["type"]?.stringValue {
            return [typed(type: type, object: object, raw: data)]
        }
        if object["content"] != nil || object["errorCode"] != nil || object["errorMessage"] != nil || object["error_message"] != nil {
            let events = adk(object)
            return events.isEmpty ? [.unknown(data)] : events
        }
        return [.unknown(data)]
    }

    private static func typed(type: String, object: [String: JSONValue], raw: String) -> AgentEvent {
        switch type.lowercased() {
        case "text", "message":
            if let text = object["content"]?.stringValue ?? object["text"]?.stringValue ?? object["message"]?.stringValue {
                return .text(text)
            }
            return .unknown(raw)
        case "tool_call", "toolcall", "function_call":
            return .toolCall(
                name: object["name"]?.stringValue ?? object["tool"]?.stringValue ?? "",
                args: object["args"] ?? object["arguments"] ?? object["input"] ?? .object([:]))
        case "tool_result", "toolresult", "function_response":
            return .toolResult(
                name: object["name"]?.stringValue ?? object["tool"]?.stringValue ?? "",
                result: object["result"] ?? object["output"] ?? object["response"] ?? .null)
        case "heartbeat", "ping", "keepalive":
            return .heartbeat
        case "error":
            let message = object["message"]?.stringValue ?? object["content"]?.stringValue ?? object["error"]?.stringValue ?? "error"
            let code = object["code"].flatMap { $0.stringValue ?? $0.intValue.map(String.init) }
            return .error(message: message, code: code)
        default:
            return .unknown(raw)
        }
    }

    private static func adk(_ object: [String: JSONValue]) -> [AgentEvent] {
        var events: [AgentEvent] = []
        if let parts = object["content"]?["parts"]?.arrayValue {
            for part in parts {
                if let call = part["functionCall"] ?? part["function_call"] {
                    events.append(.toolCall(name: call["name"]?.stringValue ?? "", args: call["args"] ?? .object([:])))
                } else if let response = part["functionResponse"] ?? part["function_response"] {
                    events.append(.toolResult(name: response["name"]?.stringValue ?? "", result: response["response"] ?? .null))
                } else if let text = part["text"]?.stringValue {
                    events.append(.text(text))
                }
            }
        }
        if let message = object["errorMessage"]?.stringValue ?? object["error_message"]?.stringValue {
            let code = (object["errorCode"] ?? object["error_code"]).flatMap { $0.stringValue ?? $0.intValue.map(String.init) }
            events.append(.error(message: message, code: code))
        }
        return events
    }
}

/// Writes agent events as `data` text in either dialect (the simulator's side).
public enum AgentEventEncoder {
    /// Context an ADK event carries besides its content.
    public struct Context: Sendable, Hashable {
        public var invocationID: String
        public var eventID: String
        /// Seconds since 1970.
        public var timestamp: Double
        public var author: String

        public init(invocationID: String, eventID: String, timestamp: Double, author: String = "nemo_agent") {
            self.invocationID = invocationID
            self.eventID = eventID
            self.timestamp = timestamp
            self.author = author
        }
    }

    /// The `data` text of `event` in `dialect`. A heartbeat in the ADK dialect
    /// is an empty `data` (ADK has no heartbeat event).
    public static func data(for event: AgentEvent, dialect: SSEDialect, context: Context) -> String {
        switch dialect {
        case .typed: return typed(event)
        case .adk: return adk(event, context: context)
        }
    }

    private static func typed(_ event: AgentEvent) -> String {
        let value: JSONValue
        switch event {
        case .text(let text): value = ["type": "text", "content": .string(text)]
        case .toolCall(let name, let args): value = ["type": "tool_call", "name": .string(name), "args": args]
        case .toolResult(let name, let result): value = ["type": "tool_result", "name": .string(name), "result": result]
        case .heartbeat: value = ["type": "heartbeat"]
        case .error(let message, let code):
            value = .object(["type": "error", "message": .string(message)].merging(code.map { ["code": .string($0)] } ?? [:]) { a, _ in a })
        case .unknown(let raw): return raw
        }
        return value.jsonString()
    }

    private static func adk(_ event: AgentEvent, context: Context) -> String {
        var object: [String: JSONValue] = [
            "author": .string(context.author), "invocationId": .string(context.invocationID),
            "id": .string(context.eventID), "timestamp": .number(context.timestamp), "partial": false,
        ]
        switch event {
        case .text(let text):
            object["content"] = ["role": "model", "parts": [["text": .string(text)]]]
        case .toolCall(let name, let args):
            object["content"] = ["role": "model", "parts": [["functionCall": ["name": .string(name), "args": args]]]]
        case .toolResult(let name, let result):
            object["content"] = ["role": "user", "parts": [["functionResponse": ["name": .string(name), "response": result]]]]
        case .heartbeat:
            return ""
        case .error(let message, let code):
            object["errorMessage"] = .string(message)
            if let code { object["errorCode"] = .string(code) }
        case .unknown(let raw):
            return raw
        }
        return JSONValue.object(object).jsonString()
    }
}

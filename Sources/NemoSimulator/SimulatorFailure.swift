import NemoCore

/// Why the simulator refuses a request: an envelope code (1001, 1002, 2001,
/// 4001, 4002), or an HTTP status the API documents without a code (400,
/// 402, 403, 429), or a plain client error (bad input).
public enum SimulatorFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// An error code in the envelope (HTTP 200 in `envelope` mode).
    case code(ErrorCode, String)
    /// An HTTP status with a message.
    case http(Int, String)

    public var message: String {
        switch self {
        case .code(_, let message), .http(_, let message): return message
        }
    }

    public var description: String {
        switch self {
        case .code(let code, let message): return "\(code.rawValue): \(message)"
        case .http(let status, let message): return "HTTP \(status): \(message)"
        }
    }

    static func badRequest(_ message: String) -> SimulatorFailure { .http(400, message) }
    static func tokenInvalid(_ message: String = "token invalid, expired or revoked: get a new anonymous token") -> SimulatorFailure {
        .code(.tokenInvalid, message)
    }
    static func sessionNotFound(_ id: String) -> SimulatorFailure {
        .code(.sessionNotFound, "session \(id) not found (unknown, or expired after idling): create a new session")
    }
}

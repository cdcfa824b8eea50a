import NemoCore

/// Every failure the client reports: an API error (envelope code or HTTP
/// status), a transport failure, or a broken contract, with the documented
/// next step.
public struct NemoError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The API answered with an error code or status.
        case api
        /// No usable HTTP exchange (connection, TLS, timeout, cut off).
        case transport
        /// The response could not be read as the API documents it.
        case protocolViolation
        /// The event stream had heartbeats only for too long.
        case streamTimeout
        /// The event stream was lost and the state checks saw no change:
        /// the work may have failed.
        case streamLost
        /// Bad input from the caller (a missing file, no session yet).
        case usage
    }

    public var kind: Kind
    /// The envelope code, when the response had one.
    public var code: ErrorCode?
    /// The HTTP status, when there was a response.
    public var httpStatus: Int?
    public var message: String
    /// The answer the error came in, when there was one (the whole answer:
    /// a caller can read what the server said beyond the message).
    public var response: ClientResponse?

    public init(kind: Kind, code: ErrorCode? = nil, httpStatus: Int? = nil, message: String, response: ClientResponse? = nil) {
        self.kind = kind
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
        self.response = response
    }

    /// The documented reaction for this error, when there is one.
    public var reaction: ClientReaction? {
        if let code, code != .success, let reaction = code.reaction { return reaction }
        if let httpStatus, let documented = DocumentedHTTPError(rawValue: httpStatus) {
            // 400 is documented for a missing X-Client-Id only; other 400s are plain bad requests.
            if documented == .missingClientID && !message.contains("X-Client-Id") { return nil }
            return documented.reaction
        }
        return nil
    }

    /// What to do next, in words.
    public var nextStep: String {
        if let reaction { return reaction.advice }
        switch kind {
        case .transport: return "check the URL and the network, then retry"
        case .streamTimeout: return "poll the session state; the work may still finish"
        case .streamLost: return "send the message again to retry (a new operation, charged again)"
        case .usage: return "fix the command and retry"
        default: return "retry; if it persists, record the session (--record) and report it"
        }
    }

    public var description: String {
        var parts: [String] = []
        if let code, code != .success { parts.append("code \(code.rawValue)") }
        if let httpStatus { parts.append("HTTP \(httpStatus)") }
        let prefix = parts.isEmpty ? "" : "[" + parts.joined(separator: ", ") + "] "
        return "\(prefix)\(message) — next: \(nextStep)"
    }
}

/// One dispatched event of an event stream, as the WHATWG HTML
/// "server-sent events" interpretation rules define it.
public struct ServerSentEvent: Sendable, Hashable {
    /// The event type: the last `event` field, or `"message"` when none was given.
    public var type: String
    /// The `data` fields, joined with LF (no trailing LF).
    public var data: String
    /// The last event ID in force when the event was dispatched (persists
    /// across events until an `id` field changes it); empty when none.
    public var lastEventID: String

    public init(type: String = "message", data: String, lastEventID: String = "") {
        self.type = type
        self.data = data
        self.lastEventID = lastEventID
    }
}

/// What the parser reports, in stream order.
public enum ServerSentEventItem: Sendable, Hashable {
    /// A dispatched event.
    case event(ServerSentEvent)
    /// A comment line (starting with `:`), without the colon and one leading
    /// space. Servers send these as heartbeats; browsers ignore them.
    case comment(String)
    /// A valid `retry` field: the reconnection time, in milliseconds.
    case retry(Int)
}

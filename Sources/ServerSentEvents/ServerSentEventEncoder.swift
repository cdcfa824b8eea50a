/// Writes event-stream text that ``ServerSentEventParser`` (and any WHATWG
/// conforming reader) reads back as the same items.
///
/// Data containing CR or CRLF line ends is written as several `data` lines and
/// reads back with LF. Line breaks and NUL cannot be carried by `event` and
/// `id` fields, so they are removed from those.
public enum ServerSentEventEncoder {
    /// The text of one event: optional `event` and `id` lines, one `data` line
    /// per line of `data`, and the blank line that dispatches it.
    ///
    /// - Parameter id: written when not nil; `""` resets the reader's last event ID.
    public static func encode(data: String, type: String? = nil, id: String? = nil, retry: Int? = nil) -> String {
        var out = ""
        out.reserveCapacity(data.utf8.count + 32)
        if let type, type != "message" {
            out += "event: " + sanitized(type) + "\n"
        }
        if let id {
            out += "id: " + sanitized(id, alsoNUL: true) + "\n"
        }
        if let retry, retry >= 0 {
            out += "retry: \(retry)\n"
        }
        for line in lines(of: data) {
            out += "data: "
            out += line
            out += "\n"
        }
        out += "\n"
        return out
    }

    /// The text of an event as the parser reports it.
    public static func encode(_ event: ServerSentEvent, includeID: Bool = true) -> String {
        encode(data: event.data, type: event.type, id: includeID && !event.lastEventID.isEmpty ? event.lastEventID : nil)
    }

    /// A comment (one `:` line per line of `text`), e.g. a heartbeat.
    public static func comment(_ text: String) -> String {
        lines(of: text).map { $0.isEmpty ? ":\n" : ": " + $0 + "\n" }.joined()
    }

    /// A `retry` field on its own.
    public static func retry(milliseconds: Int) -> String {
        "retry: \(max(0, milliseconds))\n"
    }

    private static func lines(of text: String) -> [Substring] {
        var result: [Substring] = []
        var start = text.startIndex
        var index = start
        while index < text.endIndex {
            let character = text[index]
            if character == "\n" || character == "\r" || character == "\r\n" {
                result.append(text[start..<index])
                index = text.index(after: index)
                start = index
            } else {
                index = text.index(after: index)
            }
        }
        result.append(text[start..<text.endIndex])
        return result
    }

    private static func sanitized(_ value: String, alsoNUL: Bool = false) -> String {
        guard value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || (alsoNUL && $0 == 0) }) else { return value }
        return String(value.unicodeScalars.filter { $0 != "\n" && $0 != "\r" && !(alsoNUL && $0 == "\0") }.map(Character.init))
    }
}

/// An incremental multipart/form-data parser: feed it the body in chunks of
/// any size; it reports each part's headers, its bytes as they arrive, and
/// its end. It holds at most one delimiter's length of a part's bytes, so an
/// upload of any size is never held in memory.
struct MultipartStreamParser {
    enum Event {
        case partStart(headers: [(name: String, value: String)])
        case partData(ArraySlice<UInt8>)
        case partEnd
    }

    enum ParseError: Error, CustomStringConvertible {
        case malformed(String)
        var description: String {
            switch self {
            case .malformed(let text): return text
            }
        }
    }

    private enum State {
        case preamble
        case headers
        case body
        case epilogue
    }

    private let delimiter: [UInt8]  // "\r\n--boundary"
    private var state = State.preamble
    private var buffer: [UInt8] = []
    private var headerBytes = 0
    /// The closing delimiter was seen.
    private(set) var isComplete = false

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The first delimiter may come without the leading CRLF.
        buffer = Array("\r\n".utf8)
    }

    /// The boundary of a `multipart/form-data; boundary=...` content type.
    static func boundary(fromContentType contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = parts.first, type.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                var value = String(pair[1])
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                return (1...70).contains(value.utf8.count) ? value : nil
            }
        }
        return nil
    }

    mutating func feed(_ chunk: some Collection<UInt8>, emit: (Event) throws -> Void) throws {
        buffer.append(contentsOf: chunk)
        var progress = true
        while progress {
            progress = false
            switch state {
            case .preamble:
                if let index = find(delimiter, in: buffer, from: 0) {
                    buffer.removeSubrange(0..<(index + delimiter.count))
                    state = .headers
                    progress = true
                } else if buffer.count > delimiter.count {
                    buffer.removeSubrange(0..<(buffer.count - delimiter.count))
                }
            case .headers:
                // After a delimiter: "--" (the end) or CRLF, then headers up to CRLFCRLF.
                if buffer.count >= 2 && buffer[0] == 0x2D && buffer[1] == 0x2D {
                    state = .epilogue
                    isComplete = true
                    buffer.removeAll()
                    return
                }
                let terminator: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
                if let end = find(terminator, in: buffer, from: 0) {
                    let block = String(decoding: buffer[0..<end], as: UTF8.self)
                    buffer.removeSubrange(0..<(end + 4))
                    var headers: [(name: String, value: String)] = []
                    for line in block.split(separator: "\r\n", omittingEmptySubsequences: true) {
                        guard let colon = line.firstIndex(of: ":") else {
                            throw ParseError.malformed("multipart part header without a colon: \(line.prefix(80))")
                        }
                        headers.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
                    }
                    try emit(.partStart(headers: headers))
                    state = .body
                    progress = true
                } else if buffer.count > 16 * 1024 {
                    throw ParseError.malformed("multipart part headers longer than 16 KiB")
                }
            case .body:
                if let index = find(delimiter, in: buffer, from: 0) {
                    if index > 0 { try emit(.partData(buffer[0..<index])) }
                    try emit(.partEnd)
                    buffer.removeSubrange(0..<(index + delimiter.count))
                    state = .headers
                    progress = true
                } else if buffer.count >= delimiter.count {
                    // Keep what could be the start of a delimiter.
                    let safe = buffer.count - (delimiter.count - 1)
                    try emit(.partData(buffer[0..<safe]))
                    buffer.removeSubrange(0..<safe)
                }
            case .epilogue:
                buffer.removeAll()
            }
        }
    }

    /// The index of `needle` in `haystack` at or after `start`.
    private func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                while index <= last {
                    if hay[index] == first {
                        var match = true
                        var offset = 1
                        while offset < pin.count {
                            if hay[index + offset] != pin[offset] {
                                match = false
                                break
                            }
                            offset += 1
                        }
                        if match { return index }
                    }
                    index += 1
                }
                return nil
            }
        }
    }
}

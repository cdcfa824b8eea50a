/// A multipart part's `Content-Disposition` header, read as RFC 7578 and
/// RFC 6266 describe it: `form-data; name="files"; filename="a.png"`, quoted
/// or bare values, backslash escapes inside quotes, and the extended
/// `filename*=UTF-8''na%C3%AFve.png` form (RFC 5987), which wins over
/// `filename` when both are given.
struct ContentDisposition: Equatable {
    /// `form-data`, lower-cased.
    var type: String
    /// Parameter names lower-cased; values as sent (extended ones decoded).
    var parameters: [String: String]

    var name: String? { parameters["name"] }
    var filename: String? { parameters["filename*"] ?? parameters["filename"] }

    init(_ value: String) {
        var rest = Substring(value)
        let end = rest.firstIndex(of: ";") ?? rest.endIndex
        type = rest[..<end].trimmingCharacters(in: .whitespaces).lowercased()
        rest = rest[end...]
        var parameters: [String: String] = [:]
        while let semicolon = rest.firstIndex(of: ";") {
            rest = rest[rest.index(after: semicolon)...]
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var valueStart = rest.index(after: equals)
            while valueStart < rest.endIndex, rest[valueStart] == " " { valueStart = rest.index(after: valueStart) }
            var value = ""
            if valueStart < rest.endIndex, rest[valueStart] == "\"" {
                var index = rest.index(after: valueStart)
                while index < rest.endIndex, rest[index] != "\"" {
                    if rest[index] == "\\", rest.index(after: index) < rest.endIndex { index = rest.index(after: index) }
                    value.append(rest[index])
                    index = rest.index(after: index)
                }
                rest = index < rest.endIndex ? rest[rest.index(after: index)...] : rest[rest.endIndex...]
            } else {
                let end = rest[valueStart...].firstIndex(of: ";") ?? rest.endIndex
                value = rest[valueStart..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            if key.hasSuffix("*") {
                // charset'language'percent-encoded; only UTF-8 (and its
                // ASCII subset) is read, anything else is left out.
                guard let decoded = Self.decodeExtended(value) else { continue }
                value = decoded
            }
            if !key.isEmpty { parameters[key] = value }
        }
        self.parameters = parameters
    }

    /// `UTF-8''na%C3%AFve.png` → `naïve.png`; nil for another charset or a
    /// broken encoding.
    static func decodeExtended(_ value: String) -> String? {
        let parts = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        let charset = parts[0].lowercased()
        guard charset == "utf-8" || charset == "us-ascii" else { return nil }
        var bytes: [UInt8] = []
        var utf8 = parts[2].utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let high = hex(utf8.removeFirst()), let low = hex(utf8.removeFirst()) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

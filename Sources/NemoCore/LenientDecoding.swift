import Foundation

/// Reads that never fail on a field of an unexpected type: a tolerant reader
/// takes `"100"` for `100`, `100.0` for `100`, and treats anything else it
/// cannot use as absent.
extension KeyedDecodingContainer {
    func lenientString(_ key: Key) -> String? {
        if let value = try? decodeIfPresent(String.self, forKey: key) { return value }
        if let value = try? decodeIfPresent(Int64.self, forKey: key) { return String(value) }
        if let value = try? decodeIfPresent(Double.self, forKey: key) { return String(value) }
        return nil
    }

    func lenientInt(_ key: Key) -> Int? {
        if let value = try? decodeIfPresent(Int.self, forKey: key) { return value }
        if let value = try? decodeIfPresent(Double.self, forKey: key), value.isFinite, abs(value) < 9.2e18 { return Int(value) }
        if let text = try? decodeIfPresent(String.self, forKey: key) {
            return Int(text) ?? Double(text).flatMap { $0.isFinite && abs($0) < 9.2e18 ? Int($0) : nil }
        }
        return nil
    }

    func lenientDouble(_ key: Key) -> Double? {
        if let value = try? decodeIfPresent(Double.self, forKey: key) { return value }
        if let text = try? decodeIfPresent(String.self, forKey: key) { return Double(text) }
        return nil
    }

    func lenientBool(_ key: Key) -> Bool? {
        if let value = try? decodeIfPresent(Bool.self, forKey: key) { return value }
        if let value = try? decodeIfPresent(Int.self, forKey: key) { return value != 0 }
        if let text = try? decodeIfPresent(String.self, forKey: key) { return ["true", "1", "yes"].contains(text.lowercased()) }
        return nil
    }

    func lenient<T: Decodable>(_ type: T.Type, _ key: Key) -> T? {
        (try? decodeIfPresent(T.self, forKey: key)) ?? nil
    }

    /// Every member of the object whose key is not in `known`, kept as JSON.
    func extras(excluding known: Set<String>) -> [String: JSONValue] where Key == AnyCodingKey {
        var result: [String: JSONValue] = [:]
        for key in allKeys where !known.contains(key.stringValue) {
            if let value = try? decode(JSONValue.self, forKey: key) { result[key.stringValue] = value }
        }
        return result
    }
}

/// A coding key for any string, for objects whose unknown members are kept.
struct AnyCodingKey: CodingKey, Hashable, Sendable {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension KeyedEncodingContainer where Key == AnyCodingKey {
    mutating func encodeExtras(_ extras: [String: JSONValue]) throws {
        for (key, value) in extras.sorted(by: { $0.key < $1.key }) {
            try encode(value, forKey: AnyCodingKey(key))
        }
    }
}

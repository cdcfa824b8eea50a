import Foundation

/// ISO 8601 date formatting shared by the wire model (with and without
/// fractional seconds on input; without on output).
public enum ISO8601 {
    public static func string(from date: Date) -> String {
        date.formatted(.iso8601)
    }

    public static func date(from string: String) -> Date? {
        if let date = try? Date(string, strategy: .iso8601) { return date }
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return try? fractional.parse(string)
    }
}

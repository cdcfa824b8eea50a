/// Numbers read from outside (HTTP bodies, the admin API, health answers,
/// YAML scenarios and profiles, HAR files, options) become integers and
/// durations only through these helpers: a conversion that would trap
/// (`Int(1e300)`, `Int64(Double.nan)`, `.nanoseconds(Int64(1e10 * 1e9))`)
/// is refused (`nil`, for the caller to turn into a clear error) or, where
/// the value has been checked already and only arithmetic could take it out
/// of range, clamped.
public enum CheckedNumber {
    /// The longest time anything sleeps or waits on, in seconds (about 31
    /// years): far beyond any timeout a user means, and well inside
    /// `Duration`'s and `Int64` nanoseconds' range.
    public static let maximumSleepSeconds: Double = 1e9

    /// The furthest a simulated clock may run, in seconds from its start
    /// (about 317 years): dates and millisecond timestamps derived from it
    /// stay representable.
    public static let maximumSimulatedSeconds: Double = 1e10

    /// `value` when it is finite and inside `range`.
    public static func seconds(_ value: Double?, in range: ClosedRange<Double>) -> Double? {
        guard let value, value.isFinite, range.contains(value) else { return nil }
        return value
    }

    /// The integer `value` stands for, when it is finite, whole and inside
    /// `range` (`3.0` is 3; `3.5`, NaN, infinities and `1e300` are nil).
    public static func integer(_ value: Double?, in range: ClosedRange<Int>) -> Int? {
        guard let value, value.isFinite, value.rounded() == value,
              value >= Double(range.lowerBound), value <= Double(range.upperBound)
        else { return nil }
        // Double(Int.max) rounds up to 2^63, which `Int(_:)` would trap on.
        guard let integer = Int(exactly: value) else { return nil }
        return integer
    }

    /// `value` rounded to the nearest integer, clamped into `range` (NaN is
    /// the lower bound). For values checked already, where only arithmetic
    /// (a product, a sum) could leave the range.
    public static func clampedInteger(_ value: Double, in range: ClosedRange<Int>) -> Int {
        guard !value.isNaN else { return range.lowerBound }
        if value <= Double(range.lowerBound) { return range.lowerBound }
        if value >= Double(range.upperBound) { return range.upperBound }
        return Int(exactly: value.rounded()) ?? range.upperBound
    }
}

extension Duration {
    /// A duration of `seconds`, never trapping: NaN and negative values are
    /// zero, values beyond ``CheckedNumber/maximumSleepSeconds`` that.
    public static func seconds(clamping seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }  // NaN too
        let bounded = Swift.min(seconds, CheckedNumber.maximumSleepSeconds)
        let whole = bounded.rounded(.down)
        return .seconds(Int64(whole)) + .nanoseconds(Int64(((bounded - whole) * 1e9).rounded()))
    }
}

/// What may go into an HTTP header line: a name of token characters, a
/// value without CR, LF or NUL (each would end the line early and let the
/// rest be read as another header).
public enum HeaderText {
    /// RFC 9110 token characters.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }

    /// No CR, LF or NUL.
    public static func isValidValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
    }
}

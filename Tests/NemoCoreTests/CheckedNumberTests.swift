import Foundation
import NemoCore
import Testing

/// The numbers that crashed the tools before (1e300, NaN, 2^63 turned into
/// integers and durations) and the header text that injected headers.
@Suite("Numbers and header text from outside")
struct CheckedNumberTests {
    static let hostile: [Double] = [1e300, -1e300, .nan, .infinity, -.infinity, 9_223_372_036_854_775_808, 1e17]

    @Test("Out-of-range, NaN, infinite and huge values are refused, never trapped on")
    func refused() {
        for value in Self.hostile {
            #expect(CheckedNumber.seconds(value, in: 0...86_400) == nil, "\(value)")
            #expect(CheckedNumber.integer(value, in: 0...Int.max) == nil || value == 1e17, "\(value)")
            _ = CheckedNumber.clampedInteger(value, in: 0...Int.max)
            _ = Duration.seconds(clamping: value)
        }
        #expect(CheckedNumber.integer(Double(Int.max), in: Int.min...Int.max) == nil, "2^63 is not an Int")
        #expect(CheckedNumber.integer(3, in: 0...5) == 3)
        #expect(CheckedNumber.integer(3.5, in: 0...5) == nil)
        #expect(CheckedNumber.seconds(30, in: 0...86_400) == 30)
        #expect(CheckedNumber.clampedInteger(.nan, in: 1...10) == 1)
        #expect(CheckedNumber.clampedInteger(1e300, in: 1...10) == 10)
        #expect(CheckedNumber.clampedInteger(-1e300, in: 1...10) == 1)
    }

    @Test("A duration from seconds: NaN and negatives are zero, huge values the longest sleep")
    func durations() {
        #expect(Duration.seconds(clamping: .nan) == .zero)
        #expect(Duration.seconds(clamping: -5) == .zero)
        #expect(Duration.seconds(clamping: 1.5) == .milliseconds(1500))
        #expect(Duration.seconds(clamping: 1e300) == .seconds(Int64(CheckedNumber.maximumSleepSeconds)))
        #expect(Duration.seconds(clamping: .infinity) == .seconds(Int64(CheckedNumber.maximumSleepSeconds)))
    }

    @Test("Header names are tokens; values have no CR, LF or NUL")
    func headerText() {
        #expect(HeaderText.isValidName("X-Skill-Source"))
        for name in ["", "X A", "X:A", "X\r\nB", "Ü"] { #expect(!HeaderText.isValidName(name), "\(name.debugDescription)") }
        #expect(HeaderText.isValidValue("Bearer nmv_usr_x; a=b"))
        for value in ["a\r\nX-Injected: 1", "a\nb", "a\u{0}b", "a\rb"] { #expect(!HeaderText.isValidValue(value), "\(value.debugDescription)") }
    }
}

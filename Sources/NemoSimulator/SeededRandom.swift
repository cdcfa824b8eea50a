import NemoCore

/// SplitMix64: a small, fast, seedable generator. The simulator derives one
/// per (run seed, subject, index), so that the same seed gives the same
/// behaviour whatever the concurrency or the order of requests.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one subject (a session id, a client id, a render id)
    /// and an index (a message number), derived from the run seed.
    public init(seed: UInt64, subject: String, index: Int = 0) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the subject
        for byte in subject.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        var mixer = SeededRandom(seed: seed ^ hash ^ (UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15))
        state = mixer.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    public mutating func unit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }

    /// A uniform value in `range`.
    public mutating func seconds(in range: SecondsRange) -> Double {
        range.min + (range.max - range.min) * unit()
    }

    /// True with probability `ratio`.
    public mutating func chance(_ ratio: Double) -> Bool {
        unit() < ratio
    }

    /// `count` lowercase hex digits.
    public mutating func hex(_ count: Int) -> String {
        var out = ""
        while out.count < count {
            let digits = String(next(), radix: 16)
            out += String(repeating: "0", count: 16 - digits.count) + digits
        }
        return String(out.prefix(count))
    }

    /// `count` decimal digits, the first not zero.
    public mutating func decimal(_ count: Int) -> String {
        var out = String(Int.random(in: 1...9, using: &self))
        while out.count < count { out += String(Int.random(in: 0...9, using: &self)) }
        return out
    }
}

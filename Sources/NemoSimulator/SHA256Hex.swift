import Crypto
import Foundation
import NemoCore

/// SHA-256 helpers.
enum SHA256Hex {
    static func of(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    /// Lower-case hex of any bytes (a digest, a MAC).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

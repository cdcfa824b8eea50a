import Crypto
import Foundation

/// SHA-256 helpers.
enum SHA256Hex {
    static func of(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

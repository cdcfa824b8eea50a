import Foundation
import NIOCore

/// Entry points for the fuzz targets (`Fuzz/`, `scripts/fuzz`) and for the
/// tests that replay their corpora and every crash found: each takes any
/// bytes and must neither trap nor hang nor grow without bound.
package enum SimulatorFuzzing {
    /// The multipart parser, fed `bytes` in chunks of 1 to 64 bytes (the
    /// first byte picks the chunk size), with the upload receiver's part limit.
    package static func multipart(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let chunk = Int(first % 64) + 1
        var receiver = UploadReceiver(boundary: "XyZ-boundary", maximumParts: 100)
        var index = 1
        while index < bytes.count {
            let end = min(bytes.count, index + chunk)
            do { try receiver.consume(ByteBuffer(bytes: bytes[index..<end])) } catch { return }
            index = end
        }
        _ = receiver.parser.isComplete
    }

    /// A profile from JSON or YAML text.
    package static func profile(_ bytes: [UInt8]) {
        _ = try? BehaviourProfile.parse(Data(bytes), source: "fuzz.yaml")
    }
}

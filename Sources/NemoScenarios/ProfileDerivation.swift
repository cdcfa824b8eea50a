import Foundation
import NemoCore
import NemoSimulator

/// A profile fitted to recordings (`nemosim profiles derive`): the keys
/// ``RecordingObservations`` reads, each with the number of observations it
/// rests on; the keys the recordings give no evidence for at the base
/// profile's values, with a comment saying so. The file `--profile` reads.
public enum ProfileDerivation {
    public static func yaml(_ observations: RecordingObservations, base: BehaviourProfile, sources: [String], name: String = "derived") -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func text(_ value: JSONValue) -> String { (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null" }
        var lines = [
            "# Derived by `nemosim profiles derive` from \(sources.count) recording\(sources.count == 1 ? "" : "s") (\(observations.exchanges) exchanges, "
                + "\(observations.streams) event streams read, \(observations.skippedStreams) cut off or left by the client and not read):",
        ]
        lines += sources.map { "#   \($0)" }
        lines += [
            "# Each fitted key says what it rests on. Keys with no evidence keep the base profile's values (said beside them);",
            "# every other key is the base's. Check it against the recordings with: nemosim drift RECORDING.har --profile THIS.yaml",
            "base: \(text(.string(base.base)))",
            "name: \(text(.string(name)))",
            "description: \(text(.string("Fitted to \(sources.count) recording\(sources.count == 1 ? "" : "s") by nemosim profiles derive")))",
        ]
        let current = base.jsonValue
        for key in observations.keys(renderQueueSeconds: base.renderQueueSeconds) {
            if let value = key.value {
                lines.append("\(key.key): \(text(value))  # \(key.basis): \(key.observations) observation\(key.observations == 1 ? "" : "s")")
            } else {
                lines.append("\(key.key): \(text(current[key.key] ?? .null))  # no evidence in the recordings: the base profile's value")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

import Foundation
import NemoScenarios
import ServerSentEvents
import Testing

@testable import NemoRecording
@testable import NemoSimulator

/// Every seed and every crash the fuzzers found (`Fuzz/Corpus`,
/// `Fuzz/Crashes`, see `scripts/fuzz`) goes through the same entry points
/// on every test run: a crash found once stays fixed.
@Suite("Fuzz corpora and crashes replayed")
struct FuzzCorpusTests {
    static let root = fixtures.deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The files of `Fuzz/Corpus/TARGET` and `Fuzz/Crashes/TARGET`.
    static func inputs(_ target: String) throws -> [(String, [UInt8])] {
        var found: [(String, [UInt8])] = []
        for folder in ["Corpus", "Crashes"] {
            let directory = root.appendingPathComponent(folder).appendingPathComponent(target)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where !name.hasPrefix(".") {
                found.append(("\(folder)/\(target)/\(name)", Array(try Data(contentsOf: directory.appendingPathComponent(name)))))
            }
        }
        return found
    }

    @Test("Every target has seeds, and each input goes through its entry point without a trap")
    func replay() throws {
        for target in ["event-stream", "multipart", "har", "scenario", "profile"] {
            let inputs = try Self.inputs(target)
            #expect(inputs.contains { $0.0.hasPrefix("Corpus/") }, "no seed corpus for \(target)")
            for (_, bytes) in inputs {
                switch target {
                case "event-stream": #expect(ServerSentEventParser.sameItemsInAnyChunking(bytes))
                case "multipart": SimulatorFuzzing.multipart(bytes)
                case "har": RecordingFuzzing.har(bytes)
                case "scenario": _ = try? ScenarioParser.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
                default: SimulatorFuzzing.profile(bytes)
                }
            }
        }
    }
}

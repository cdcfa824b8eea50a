import ArgumentParser
import Foundation
import NemoCore
import NemoSimulator
import NemoRecording
import NemoScenarios

/// `nemosim profiles`: the shipped behaviour profiles, one in full, or how
/// they differ.
struct ProfilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "List the shipped behaviour profiles, show one in full, or tabulate where they differ.",
        discussion: """
            Where the vendor's texts disagree, each profile takes one reading and says, per key,
            which text it follows. strict (the default) takes the stricter reading everywhere, so
            that a client that works against it also works against production.

            Choose one with --profile NAME|FILE on serve, run and conformance
            (conformance --profile all runs the suite under each). A profile file names only the
            keys it changes; `base: NAME` starts it from a shipped profile instead of strict.

            `derive FILE.har...` fits a profile to recordings (production's, through
            `nemosim record`, or another simulator's): the heartbeat interval, the ratios of
            silent closes, failures and temporary-issue texts, the event dialect and ids, and
            the duration ranges of generations, edits and replies, each with the number of
            observations it rests on; keys with no evidence keep the base profile's values.
            Check the result with `nemosim drift FILE.har --profile OUT.yaml`.

            Examples:
              nemosim profiles
              nemosim profiles show skill > my.yaml
              nemosim profiles --differences
              nemosim profile derive prod-*.har -o production.yaml
            """,
        aliases: ["profile"])

    @Argument(help: "show NAME|FILE: print that profile, every key, each with the text it follows. derive FILE.har...: fit a profile to recordings.")
    var words: [String] = []

    @Option(name: .shortAndLong, help: "With derive: write the profile here (default: stdout).")
    var output: String?

    @Option(help: "With derive: the shipped profile the keys without evidence come from.")
    var base = "strict"

    @Flag(help: "Print, as a Markdown table, every key on which the shipped profiles differ: each one's value and the text it follows.")
    var differences = false

    @Flag(help: "Print JSON (a list of profiles; with show, the profile).")
    var json = false

    func validate() throws {
        guard words.isEmpty || (words.count == 2 && words[0] == "show") || (words.count >= 2 && words[0] == "derive") else {
            throw ValidationError(
                "usage: nemosim profiles [--json] | nemosim profiles show NAME|FILE [--json] | nemosim profiles --differences | nemosim profiles derive FILE.har... [-o OUT.yaml]")
        }
        if output != nil && words.first != "derive" { throw ValidationError("--output goes with derive") }
        guard BehaviourProfile.shippedNames.contains(base) else {
            throw ValidationError("--base is a shipped profile (\(BehaviourProfile.shippedNames.joined(separator: ", "))), got \(base)")
        }
        if differences && !words.isEmpty { throw ValidationError("--differences compares the shipped profiles: give no profile to show") }
    }

    func run() throws {
        if words.first == "derive" {
            let files = Array(words.dropFirst())
            let recordings = try files.map { try loadRecording($0, for: "nemosim profiles derive") }
            let observations = RecordingObservations(recordings)
            guard observations.streams > 0 else {
                throw fail("nemosim profiles derive", "the recordings hold no complete /run_sse event stream: nothing to fit (record a session with messages)", code: 1)
            }
            let base = try orExit("nemosim profiles derive", code: 2) { try BehaviourProfile.shipped(self.base) }
            let text = ProfileDerivation.yaml(observations, base: base, sources: files)
            // What it writes, --profile reads: checked as --profile would read it.
            do {
                _ = try BehaviourProfile.parse(text, source: "the derived profile")
            } catch {
                throw fail("nemosim profiles derive", "the recordings give a profile nemosim cannot use: \(error)", code: 1)
            }
            if let output {
                try writeOutput(text, to: output, for: "nemosim profiles derive")
                FileHandle.standardError.write(Data("nemosim profiles derive: wrote \(output) from \(observations.streams) streams\n".utf8))
            } else {
                print(text, terminator: "")
            }
            return
        }
        if words.count == 2 {
            let profile = try orExit("nemosim profiles", code: 2) { try BehaviourProfile.named(words[1]) }
            print(json ? Self.json(profile.jsonValue) : Self.yaml(profile))
            return
        }
        let profiles = try orExit("nemosim profiles", code: 1) { try BehaviourProfile.shippedNames.map { try BehaviourProfile.shipped($0) } }
        if differences {
            print(Self.differences(profiles), terminator: "")
        } else if json {
            print(Self.json(.array(profiles.map { ["name": .string($0.name), "description": .string($0.description)] })))
        } else {
            let width = profiles.map(\.name.count).max() ?? 0
            for profile in profiles {
                let marker = profile.name == BehaviourProfile().name ? " (default)" : ""
                print(profile.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + profile.description + marker)
            }
        }
    }

    static func json(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The profile as a file `--profile` reads back: a key per line (JSON
    /// values are YAML), each with the text it follows as a comment.
    static func yaml(_ profile: BehaviourProfile) -> String {
        var lines = ["# \(profile.description)"]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for key in BehaviourProfile.keys where key != "follows" && key != "description" {
            guard let value = profile.jsonValue[key], let data = try? encoder.encode(value) else { continue }
            var line = "\(key): \(String(decoding: data, as: UTF8.self))"
            if let source = profile.follows[key] { line += "  # \(source)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// Every key on which the profiles differ, as a Markdown table: per
    /// profile, its value and the text it follows.
    static func differences(_ profiles: [BehaviourProfile]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func cell(_ profile: BehaviourProfile, _ key: String) -> String {
            let value = profile.jsonValue[key].flatMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let source = profile.follows[key].map { ": " + $0 } ?? ""
            return ("`" + value + "`" + source).replacingOccurrences(of: "|", with: "\\|")
        }
        var lines = ["| key | " + profiles.map(\.name).joined(separator: " | ") + " |", "|---|" + profiles.map { _ in "---|" }.joined()]
        for key in BehaviourProfile.keys where !["name", "description", "follows", "base"].contains(key) {
            let values = Set(profiles.map { $0.jsonValue[key] })
            guard values.count > 1 else { continue }
            lines.append("| `\(key)` | " + profiles.map { cell($0, key) }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

import ArgumentParser
import Foundation
import NemoCore
import NemoRecording

/// `nemosim recording`: look at and clean recordings.
struct RecordingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recording",
        abstract: "Show or redact HAR recordings (made with --record, or elsewhere).",
        subcommands: [Show.self, Redact.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a readable timeline of a recording: each exchange, status, code, duration, events with offsets.",
            discussion: """
                Reads FILE, or its journal (FILE.partial.jsonl) when the recorder was killed
                before it finished: every completed exchange is there, and the cut-off one is
                named. Exit 0 when the recording is complete, 1 when it was cut off, 2 when
                it cannot be read.
                """)

        @Argument(help: "The recording (.har), or a journal (.har.partial.jsonl).")
        var file: String

        @Flag(help: "Print the timeline as JSON.")
        var json = false

        @Flag(help: "Leave heartbeats out of the event list.")
        var hideHeartbeats = false

        func run() throws {
            let recording = try loadRecording(file, for: "nemosim recording show")
            if json {
                let entries: [JSONValue] = recording.entries.enumerated().map { index, entry in
                    [
                        "n": .number(Double(index + 1)), "method": .string(entry.request.method), "url": .string(entry.request.url),
                        "status": .number(Double(entry.response.status)), "code": Self.code(entry).map { .number(Double($0)) } ?? .null,
                        "time_ms": .number(entry.time), "events": .number(Double(entry.eventStream?.count ?? 0)),
                        "ending": entry.ending.map { .string($0.description) } ?? .null,
                    ]
                }
                let value: JSONValue = [
                    "file": .string(file), "complete": .bool(!recording.fromJournal), "cut_off": recording.cutOff.map(JSONValue.string) ?? .null,
                    "target": recording.metadata.map { .string($0.target) } ?? .null, "entries": .array(entries),
                ]
                print(value.jsonString(pretty: true))
            } else {
                if let metadata = recording.metadata {
                    print("recording of \(metadata.target) made \(metadata.createdAt) by nemosim \(metadata.toolVersion)")
                }
                for (index, entry) in recording.entries.enumerated() {
                    let code = Self.code(entry).map { " code \($0)" } ?? ""
                    let path = URLComponents(string: entry.request.url)?.path ?? entry.request.url
                    print(String(format: "%3d %@ %@ -> %d%@ (%.0f ms)%@", index + 1, entry.request.method, path, entry.response.status, code, entry.time,
                        entry.ending.map { " [\($0)]" } ?? ""))
                    for item in entry.eventStream ?? [] {
                        let summary = Self.summary(item)
                        if hideHeartbeats && summary == "heartbeat" { continue }
                        print(String(format: "      +%8.1f ms  %@%@", item.offsetMs, item.id.map { "[\($0)] " } ?? "", summary))
                    }
                }
                if recording.fromJournal {
                    print("not closed: read from the journal (the recorder stopped before writing the HAR)")
                }
                if let cutOff = recording.cutOff { print("cut off: \(cutOff)") }
            }
            if recording.cutOff != nil { throw ExitCode(1) }
        }

        static func code(_ entry: HAREntry) -> Int? {
            guard let text = entry.response.content.text, text.first == "{" else { return nil }
            return (try? JSONValue.parse(text))?["code"]?.intValue
        }

        static func summary(_ item: RecordedStreamItem) -> String {
            if item.kind == .comment { return "heartbeat (comment)" }
            if item.kind == .retry { return "retry \(item.data ?? "")" }
            let events = AgentEventDecoder.events(fromData: item.data ?? "")
            return events.map { event in
                switch event {
                case .text(let text): return "text: \(text.prefix(80))"
                case .toolCall(let name, _): return "tool_call \(name)"
                case .toolResult(let name, _): return "tool_result \(name)"
                case .heartbeat: return "heartbeat"
                case .error(let message, _): return "error: \(message)"
                case .unknown(let raw): return "unknown: \(raw.prefix(60))"
                }
            }.joined(separator: "; ")
        }
    }

    struct Redact: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Redact secrets in a HAR made elsewhere (bearer tokens, token values, X-Client-Id, signed URLs, and your rules).",
            discussion: "Writes to --output (default: FILE with .redacted before the extension). The same secret gets the same placeholder throughout.")

        @Argument(help: "A HAR 1.2 file.")
        var file: String

        @Option(name: .shortAndLong, help: "Where to write the redacted recording.")
        var output: String?

        @Option(name: .customLong("header"), help: "Also redact this header (repeatable).")
        var headers: [String] = []

        @Option(name: .customLong("json-path"), help: "Also redact this JSON path in bodies, e.g. data.user.email (repeatable; * matches any key).")
        var jsonPaths: [String] = []

        func run() throws {
            let input = URL(fileURLWithPath: file)
            let har: HARFile
            do {
                har = try JSONDecoder().decode(HARFile.self, from: Data(contentsOf: input))
            } catch {
                throw fail("nemosim recording redact", "\(file) is not a readable HAR 1.2 file: \(error)", code: 2)
            }
            let redactor = Redactor(rules: .init(headers: headers, jsonPaths: jsonPaths))
            var redacted = har
            redacted.log.entries = har.log.entries.map { RecordingWriter.redact($0, with: redactor) }
            // Recorded scenario results quote responses in their failure texts.
            if let scenario = har.log.nemosim?.scenario { redacted.log.nemosim?.scenario = scenario.mapStrings(redactor.text) }
            let target = output.map { URL(fileURLWithPath: $0) }
                ?? input.deletingPathExtension().appendingPathExtension("redacted").appendingPathExtension(input.pathExtension.isEmpty ? "har" : input.pathExtension)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(redacted).write(to: target, options: .atomic)
            print("wrote \(target.path): \(redacted.log.entries.count) exchanges, \(redactor.knownSecrets.count) secrets replaced by placeholders")
        }
    }
}

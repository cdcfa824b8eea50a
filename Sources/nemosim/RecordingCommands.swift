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
            abstract: "Print a readable timeline of a recording (each exchange, status, code, duration, events with offsets), or make it an HTML page.",
            discussion: """
                Reads FILE, or its journal (FILE.partial.jsonl) when the recorder was killed
                before it finished: every completed exchange is there, and the cut-off one is
                named. Exit 0 when the recording is complete, 1 when it was cut off, 2 when
                it cannot be read.

                --html writes one self-contained page (no network fetches; open it in any
                browser): every exchange a row on one time axis, each event of a stream a mark
                at its recorded offset (heartbeats, tool calls, tool results, text, errors),
                the stream's ending (after text, silent, cut off, left by the client), gaps
                longer than 1.5 heartbeat intervals hatched, the scenarios of a `nemosim run
                --record` recording with their steps; a click on a row shows its request and
                response, secrets redacted. Streams other tools recorded whole (mitmproxy, a
                browser) show their events at the exchange's end, when their client got them.

                Examples:
                  nemosim recording show session.har --hide-heartbeats
                  nemosim recording show --html session.har -o session.html
                """)

        @Argument(help: "The recording (.har), or a journal (.har.partial.jsonl).")
        var file: String

        @Flag(help: "Print the timeline as JSON.")
        var json = false

        @Flag(help: "Leave heartbeats out of the event list.")
        var hideHeartbeats = false

        @Flag(help: "Write the timeline as one self-contained HTML page (no network fetches): every exchange a row on a time axis, each event a mark, gaps marked; click a row for its request and response.")
        var html = false

        @Option(name: .shortAndLong, help: "With --html: the page to write (default: FILE with .html for its extension; - for stdout).")
        var output: String?

        @Option(help: "With --html: the API's heartbeat interval in API seconds (divided by the recording's time scale), for marking gaps.")
        var heartbeatSeconds: Double = 15

        func validate() throws {
            if output != nil && !html { throw ValidationError("--output goes with --html") }
            guard CheckedNumber.seconds(heartbeatSeconds, in: 0.001...86_400) != nil else {
                throw ValidationError("--heartbeat-seconds must be a number from 0.001 to 86400, got \(heartbeatSeconds)")
            }
        }

        func run() throws {
            let recording = try loadRecording(file, for: "nemosim recording show")
            if html {
                let page = TimelinePage.html(
                    recording, options: .init(title: URL(fileURLWithPath: file).lastPathComponent, heartbeatSeconds: heartbeatSeconds))
                if output == "-" {
                    FileHandle.standardOutput.write(Data(page.utf8))
                } else {
                    let target = output ?? (URL(fileURLWithPath: file).deletingPathExtension().path + ".html")
                    try writeOutput(page, to: target, for: "nemosim recording show")
                    print("wrote \(target) (\(recording.entries.count) exchanges)")
                }
            } else if json {
                let entries: [JSONValue] = recording.entries.enumerated().map { index, entry in
                    [
                        "n": .number(Double(index + 1)), "method": .string(entry.request.method), "url": .string(entry.request.url),
                        "status": .number(Double(entry.response.status)), "code": entry.envelopeCode.map { .number(Double($0)) } ?? .null,
                        "time_ms": .number(entry.time), "events": .number(Double(entry.replayedEventStream?.count ?? 0)),
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
                    let code = entry.envelopeCode.map { " code \($0)" } ?? ""
                    let path = URLComponents(string: entry.request.url)?.path ?? entry.request.url
                    print(String(format: "%3d %@ %@ -> %d%@ (%.0f ms)%@", index + 1, entry.request.method, path, entry.response.status, code, entry.time,
                        entry.ending.map { " [\($0)]" } ?? ""))
                    for item in entry.replayedEventStream ?? [] {
                        let summary = item.summary
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

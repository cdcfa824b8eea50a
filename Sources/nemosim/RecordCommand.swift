import ArgumentParser
import Foundation
import NemoCore
import NemoClient
import NemoRecording

/// `nemosim record`: a recording proxy in front of any upstream.
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Run a recording proxy: point any client at it to record its session with the upstream.",
        discussion: """
            Forwards every request to --upstream through libcurl, passes event streams through
            as they arrive, and records each exchange to --out (HAR 1.2, secrets redacted,
            crash-safe). When ready it prints one line to stdout:

              nemosim recording proxy listening on http://HOST:PORT

            Ctrl-C (SIGINT) or SIGTERM finishes the recording cleanly.

            Example:
              nemosim record --upstream https://mega-api-prod.nemovideo.ai --out session.har --port 9000
              NEMO_API_URL=http://127.0.0.1:9000 my-agent ...
            """)

    @Option(help: "The API to forward to, e.g. https://mega-api-prod.nemovideo.ai or a simulator.")
    var upstream: String

    @Option(help: "The HAR file to write.")
    var out: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (the ready line says which).")
    var port = 9000

    @Option(help: "Extra CA bundle (PEM) to trust for the upstream.")
    var caFile: String?

    func validate() throws {
        try validateBaseURL(upstream, "--upstream")
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
    }

    func run() async throws {
        let writer = try orExit("nemosim record", code: 2) {
            try RecordingWriter(
                url: URL(fileURLWithPath: out),
                metadata: RecordingMetadata(toolVersion: NemosimVersion.current, target: upstream, createdAt: Date().formatted(.iso8601)))
        }
        let proxy = try await orExit("nemosim record", code: 1) {
            try await RecordingProxy.start(
                upstream: upstream, writer: writer, transport: CurlTransport(options: .init(caFile: caFile)), host: host, port: port,
                handleSignals: true)
        }
        FileHandle.standardOutput.write(Data("nemosim recording proxy listening on \(proxy.url)\n".utf8))
        try await proxy.wait()
        FileHandle.standardError.write(Data("nemosim record: wrote \(out)\n".utf8))
    }
}

import ArgumentParser
import Foundation
import NemoClient
import NemoCore
import NemoRecording

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "API base URL (default: $NEMO_API_URL, else production https://mega-api-prod.nemovideo.ai).")
    var api: String?

    @Flag(help: "Print machine-readable JSON instead of text.")
    var json = false

    @Option(help: "Session id to use (default: the one saved by `nemosim session` for this API).")
    var session: String?

    @Option(name: .customLong("ca-file"), help: "Extra CA bundle (PEM) to trust, e.g. for a test server with a self-signed CA.")
    var caFile: String?

    @Flag(name: .customLong("no-recovery"), help: "Turn off the documented recovery rules (token renewal, retries, reconnects).")
    var noRecovery = false

    @Option(help: "Record every exchange of this command to a HAR file (secrets redacted; crash-safe).")
    var record: String?

    func validate() throws {
        try validateBaseURL(baseURL, api != nil ? "--api" : "$NEMO_API_URL")
    }

    var baseURL: String {
        let environment = ProcessInfo.processInfo.environment
        return api ?? environment["NEMO_API_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Endpoint.productionBaseURL
    }

    /// A client for this API with the saved (or `NEMO_TOKEN`) credentials,
    /// recording through `--record` when given.
    func makeClient(onAction: @escaping @Sendable (ClientAction) -> Void = { _ in }) throws -> ClientContext {
        var configuration = ClientConfiguration.fromEnvironment(baseURL: baseURL)
        if let refused = ClientConfiguration.environmentToken(for: configuration.baseURL).refused {
            FileHandle.standardError.write(Data("nemosim: \(refused)\n".utf8))
        }
        if let caFile { configuration.transport.caFile = caFile }
        let store = CredentialStore()
        let saved = store.load(for: configuration.baseURL)
        if configuration.token == nil { configuration.token = saved?.token }
        var transport: any HTTPTransport = CurlTransport(options: configuration.transport)
        var writer: RecordingWriter?
        if let record {
            do {
                writer = try RecordingWriter(
                    url: URL(fileURLWithPath: record),
                    metadata: RecordingMetadata(toolVersion: NemosimVersion.current, target: configuration.baseURL, createdAt: Date().formatted(.iso8601)))
            } catch {
                throw NemoError(kind: .usage, message: "--record: \(error)")
            }
            transport = RecordingTransport(base: transport, writer: writer!)
        }
        let client = NemoClient(
            configuration: configuration, transport: transport, policy: noRecovery ? .none : RecoveryPolicy(),
            sessionID: session ?? saved?.sessionID, onAction: onAction)
        return ClientContext(client: client, store: store, writer: writer)
    }
}

/// A client command's client, credential store and recording.
struct ClientContext {
    let client: NemoClient
    let store: CredentialStore
    let writer: RecordingWriter?

    /// Saves credentials (a rule may have renewed them) and closes the recording.
    func finish() async {
        await store.save(client)
        if let writer {
            do {
                try writer.close()
                Output.note("recorded to \(writer.url.path)")
            } catch {
                Output.note("recording: \(error)")
            }
        }
    }
}

/// Output helpers: text or JSON on stdout, notes and progress on stderr.
enum Output {
    /// Progress bars redrawn in place: on a terminal that can (not TERM=dumb).
    static var stderrIsTerminal: Bool { Terminal.redraws(STDERR_FILENO) }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func json(_ value: JSONValue) {
        line(value.jsonString())
    }

    static func json<T: Encodable>(encoding value: T) {
        json((try? JSONValue(encoding: value)) ?? .null)
    }

    /// A one-line progress bar on a terminal (stderr); nothing otherwise.
    static func progress(_ label: String, done: Int64, total: Int64) {
        guard stderrIsTerminal, total > 0 else { return }
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let text = String(format: "\r%@ [%@] %3d%% %@/%@", label, bar, Int(fraction * 100), megabytes(done), megabytes(total))
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func endProgress() {
        if stderrIsTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func megabytes(_ bytes: Int64) -> String {
        bytes >= 1_000_000 ? String(format: "%.1f MB", Double(bytes) / 1e6) : String(format: "%.0f kB", Double(bytes) / 1e3)
    }
}

/// Runs a client command body with a client, mapping errors to the
/// documented exit codes: 1 for API and transport errors, 2 for usage errors.
/// Credentials are saved and the recording closed whatever happens.
func runClientCommand(
    _ options: ClientOptions, onAction: @escaping @Sendable (ClientAction) -> Void = { _ in },
    _ body: (ClientContext) async throws -> Void
) async throws {
    let json = options.json
    do {
        let context = try options.makeClient(onAction: onAction)
        do {
            try await body(context)
        } catch {
            await context.finish()
            throw error
        }
        await context.finish()
    } catch let error as NemoError {
        if json {
            var object: [String: JSONValue] = ["error": .string(error.message), "next_step": .string(error.nextStep)]
            if let code = error.code { object["code"] = .number(Double(code.rawValue)) }
            if let status = error.httpStatus { object["http_status"] = .number(Double(status)) }
            Output.json(.object(object))
        } else {
            Output.note("error: \(error)")
        }
        throw ExitCode(error.kind == .usage ? 2 : 1)
    }
}

/// What a file descriptor's terminal can show: lines redrawn in place
/// (a terminal, and not `TERM=dumb`), and colour (that, and no `NO_COLOR`).
enum Terminal {
    static func redraws(_ descriptor: Int32, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        isatty(descriptor) != 0 && environment["TERM"] != "dumb"
    }

    static func colour(_ descriptor: Int32, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        redraws(descriptor, environment: environment) && (environment["NO_COLOR"] ?? "").isEmpty
    }
}

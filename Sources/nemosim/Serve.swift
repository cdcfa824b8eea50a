import ArgumentParser
import Foundation
import NemoClient
import NemoCore
import NemoRecording
import NemoSimulator

/// `nemosim serve`: runs the simulator until SIGINT/SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the NemoVideo API simulator.",
        discussion: """
            Serves every endpoint of the NemoVideo agent API, plus the admin API under
            /_nemosim/ (health, reset, clock, profile, faults, journal, accounts, tokens).
            When ready it prints one line to stdout:

              nemosim listening on http://HOST:PORT

            Point a client at that URL instead of https://mega-api-prod.nemovideo.ai.
            Stop it with Ctrl-C (SIGINT) or SIGTERM: open connections, event streams
            included, get 1 s to finish, then are closed; a second Ctrl-C stops it at once
            (exit status 130).

            In a container or on a shared host: --host 0.0.0.0 with an admin token
            (--admin-token-file, or $NEMOSIM_ADMIN_TOKEN), which run, conformance and
            check-client --api then give too. URLs it hands out follow the Host each
            request came with; --public-url sets them behind a proxy.

            Examples:
              nemosim serve --port 8080
              nemosim serve --port 0 --time-scale 1000 --seed 42 --profile slow-backend.yaml
              nemosim serve --profile lenient
              NEMOSIM_ADMIN_TOKEN=$(openssl rand -hex 16) nemosim serve --host 0.0.0.0 --port 8080

            Replay (any client, no network): --replay FILE answers from a recording (HAR).
            With --record-mode once --upstream URL a missing FILE is recorded first; with
            new-episodes what FILE lacks is forwarded to URL and appended to it.
              nemosim serve --replay session.har --port 0 --fail-on-unused
              nemosim serve --replay cassette.har --record-mode once --upstream https://mega-api-prod.nemovideo.ai
            """
    )

    @Option(help: "Address to listen on. Use 0.0.0.0 to accept other machines (then set --admin-token).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (the ready line says which).")
    var port = 8080

    @Option(help: "Seed for every random choice: the same seed and the same requests give the same behaviour.")
    var seed: UInt64 = 1

    @Option(help: "Simulated seconds per real second: 1 is real time, 1000 makes a 90 s render take 90 ms.")
    var timeScale: Double = 1

    @Option(help: "Behaviour profile: a shipped one (strict, the default; reference, skill, lenient: see nemosim profiles) or a JSON or YAML file whose keys change the defaults.")
    var profile = "strict"

    @Option(help: ArgumentHelp(
        "Require this bearer token on the admin API and allow it from any address (default: loopback only, no token).",
        discussion: "A value given here shows in `ps`: prefer --admin-token-file or $NEMOSIM_ADMIN_TOKEN."))
    var adminToken: String?

    @Option(help: "Read the admin token from this file (its first line), so that it does not show in `ps`.")
    var adminTokenFile: String?

    @Option(help: ArgumentHelp(
        "Base of the URLs the simulator hands out (render outputUrl, upload cdn_url), e.g. http://sim.internal:8080 (else $NEMOSIM_PUBLIC_URL).",
        discussion: "Default: the address it listens on; with --host 0.0.0.0, the Host each request came with (a container's published port)."))
    var publicURL: String?

    @Option(help: "Close a keep-alive connection idle this many real seconds.")
    var idleTimeout: Double = ConnectionLimits().idleSeconds

    @Option(help: "Close a connection whose request head is not complete this many real seconds after it began (slowloris), or whose body stalls that long.")
    var requestTimeout: Double = ConnectionLimits().requestSeconds

    @Option(help: "Refuse (close at once) connections beyond this many open ones (default: the descriptor limit, raised to its hard limit, less a reserve).")
    var maxConnections: Int?

    @Option(help: "Answer from this recording (HAR) instead of simulating: any client can replay a recorded session.")
    var replay: String?

    @Option(help: "With --replay: `recorded` (event streams at their recorded offsets divided by --time-scale) or `instant`.")
    var replayTiming: ReplayTimingOption = .recorded

    @Flag(help: "With --replay: exit 1 when it stops with recorded exchanges no client used (a call your client stopped making). The list is printed either way.")
    var failOnUnused = false

    @Option(help: "With --replay: what a request must share with a recorded one, from method, path, query, body and header:NAME (comma-separated; default method,path,body).")
    var match: String?

    @Option(help: ArgumentHelp(
        "With --replay: none (answer from the recording only), once (record FILE from --upstream if it does not exist yet, else replay it) or new-episodes (replay, and send what the recording lacks to --upstream, appending it to FILE).",
        valueName: "mode"))
    var recordMode: String = "none"

    @Option(help: "With --record-mode once or new-episodes: the API to record from, e.g. https://mega-api-prod.nemovideo.ai or a simulator.")
    var upstream: String?

    @Option(help: "With --upstream: an extra CA bundle (PEM) to trust for it.")
    var caFile: String?

    @Flag(help: "More server logging on stderr (Hummingbird's info level); the request journal is at /_nemosim/journal.")
    var verbose = false

    /// The admin token from `--admin-token`, `--admin-token-file` or
    /// `$NEMOSIM_ADMIN_TOKEN`, in that order; nil when none is given.
    func resolvedAdminToken(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        try resolveAdminToken(adminToken, file: adminTokenFile, environment: environment)
    }

    /// `--public-url`, else `$NEMOSIM_PUBLIC_URL`.
    var resolvedPublicURL: String? {
        publicURL ?? ProcessInfo.processInfo.environment["NEMOSIM_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The connection limits the options give.
    var limits: ConnectionLimits {
        ConnectionLimits(idleSeconds: idleTimeout, requestSeconds: requestTimeout, maximumConnections: maxConnections)
    }

    func validate() throws {
        guard CheckedNumber.seconds(timeScale, in: 0.001...1_000_000) != nil else {
            throw ValidationError("--time-scale must be a number from 0.001 to 1000000 (simulated seconds per real second), got \(timeScale)")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        if (failOnUnused || match != nil || recordMode != "none" || upstream != nil) && replay == nil {
            throw ValidationError("--fail-on-unused, --match, --record-mode and --upstream go with --replay FILE")
        }
        let mode: RecordMode
        do { mode = try RecordMode(parsing: recordMode) } catch { throw ValidationError("\(error)") }
        if mode.needsUpstream, upstream == nil {
            throw ValidationError("--record-mode \(mode.rawValue) records from an API: give it with --upstream URL (a simulator's or https://mega-api-prod.nemovideo.ai)")
        }
        if !mode.needsUpstream, upstream != nil { throw ValidationError("--upstream is where --record-mode once or new-episodes records from; with none it is not used") }
        if let upstream { try validateBaseURL(upstream, "--upstream") }
        if caFile != nil && upstream == nil { throw ValidationError("--ca-file is a CA bundle for --upstream: give --upstream too, or leave it out") }
        if let match {
            do { _ = try ReplayMatch(parsing: match) } catch { throw ValidationError("\(error)") }
        }
        if let resolvedPublicURL {
            let option = publicURL != nil ? "--public-url" : "$NEMOSIM_PUBLIC_URL"
            try validateBaseURL(resolvedPublicURL, option)
            if let url = URLComponents(string: resolvedPublicURL), url.query != nil || url.fragment != nil {
                throw ValidationError("\(option) is the base the simulator's URLs start with: no ?query or #fragment, got \(resolvedPublicURL)")
            }
        }
        if let problem = limits.validationErrors().first {
            throw ValidationError("--idle-timeout, --request-timeout, --max-connections: \(problem)")
        }
    }

    func run() async throws {
        if let replay {
            try await runReplay(replay)
            return
        }
        let behaviour = try orExit("nemosim serve", code: 2) { try BehaviourProfile.named(profile) }
        let adminToken = try orExit("nemosim serve", code: 2) { try resolvedAdminToken() }
        let server = try await orExit("nemosim serve", code: 1) {
            try await SimulatorServer.start(
                .init(
                    host: host, port: port, seed: seed, timeScale: timeScale, profile: behaviour, adminToken: adminToken,
                    logLevel: verbose ? .info : .warning, limits: limits, publicURL: resolvedPublicURL),
                handleSignals: true)
        }
        FileHandle.standardError.write(Data("nemosim serve: profile \(behaviour.name): \(behaviour.description)\n".utf8))
        // Watching before the ready line: a Ctrl-C right after it counts.
        let stop = Self.watchStopSignals()
        FileHandle.standardOutput.write(Data("nemosim listening on \(server.url)\n".utf8))
        try await server.wait()
        stop.cancel()
    }

    /// Says what a Ctrl-C does (the server's own handling stops it: open
    /// connections get 1 s, then are cancelled); a second one stops it at once.
    static func watchStopSignals() -> SignalWatch {
        SignalWatch(ignoreFirst: false) { _ in
            FileHandle.standardError.write(Data("nemosim serve: stopping (open connections get 1 s; press Ctrl-C again to stop at once)\n".utf8))
        }
    }

    func runReplay(_ file: String) async throws {
        let mode = try RecordMode(parsing: recordMode)
        let url = URL(fileURLWithPath: file)
        let action = mode.action(for: url)
        if action == .record {
            try await runRecording(url, mode: mode)
            return
        }
        let recording = try loadRecording(file, for: "nemosim serve")
        if let cutOff = recording.cutOff { FileHandle.standardError.write(Data("nemosim serve: note: \(cutOff)\n".utf8)) }
        var newEpisodes: NewEpisodes?
        if action == .replayAndAppend, let upstream {
            let writer = try orExit("nemosim serve", code: 2) { try RecordingWriter(appendingTo: url, recording: recording) }
            newEpisodes = NewEpisodes(upstream: upstream, writer: writer, transport: CurlTransport(options: .init(caFile: caFile)))
            FileHandle.standardError.write(Data("nemosim serve: new episodes: requests \(file) does not hold go to \(upstream) and are appended to it\n".utf8))
        }
        let server: ReplayServer
        do {
            server = try await ReplayServer.start(
                recording: recording, timing: replayTiming.timing(timeScale: timeScale), host: host, port: port, handleSignals: true,
                match: try match.map(ReplayMatch.init(parsing:)) ?? .default, newEpisodes: newEpisodes)
        } catch {
            // Nothing was appended: the recording stays as it was, with no journal beside it.
            newEpisodes?.writer.discard()
            throw fail("nemosim serve", "\(error)", code: 1)
        }
        // Watching before the ready line: a Ctrl-C right after it counts.
        let stop = Self.watchStopSignals()
        FileHandle.standardOutput.write(Data("nemosim listening on \(server.url)\n".utf8))
        try await server.wait()
        stop.cancel()
        if let writer = newEpisodes?.writer {
            let total = writer.entryCount
            try orExit("nemosim serve", code: 1) { try writer.close() }
            FileHandle.standardError.write(Data("nemosim serve: appended \(total - recording.entries.count) new exchanges to \(file) (\(total) in all)\n".utf8))
        }
        // What the clients never asked for: the calls a client stopped making.
        let unused = server.unused
        if unused.isEmpty {
            FileHandle.standardError.write(Data("nemosim serve: every one of the \(recording.entries.count) recorded exchanges was used\n".utf8))
        } else {
            var lines = "nemosim serve: \(unused.count) of \(recording.entries.count) recorded exchanges were not used:\n"
            for (index, entry) in unused.prefix(50) {
                lines += "  \(index + 1) \(entry.request.method) \(ReplayMatcher.normalizedPath(entry.request.url)) -> \(entry.response.status)\n"
            }
            if unused.count > 50 { lines += "  … and \(unused.count - 50) more (GET /_nemosim/replay/unused lists them all while it runs)\n" }
            FileHandle.standardError.write(Data(lines.utf8))
            if failOnUnused { throw ExitCode(1) }
        }
    }
}

extension Serve {
    /// `--record-mode once` or `new-episodes` with no recording yet: every
    /// request goes to --upstream and is recorded to `url`, as `nemosim record` does.
    func runRecording(_ url: URL, mode: RecordMode) async throws {
        guard let upstream else { throw ExitCode(2) }  // validate() asks for it
        let writer = try orExit("nemosim serve", code: 2) {
            try RecordingWriter(
                url: url, metadata: RecordingMetadata(toolVersion: NemosimVersion.current, target: upstream, createdAt: Date().formatted(.iso8601)))
        }
        let proxy: RecordingProxy
        do {
            proxy = try await RecordingProxy.start(
                upstream: upstream, writer: writer, transport: CurlTransport(options: .init(caFile: caFile)), host: host, port: port, handleSignals: true)
        } catch {
            // Nothing recorded: no journal left to pass for a recording next time.
            writer.discard()
            throw fail("nemosim serve", "\(error)", code: 1)
        }
        FileHandle.standardError.write(Data("nemosim serve: \(url.path) does not exist yet (--record-mode \(mode.rawValue)): recording every request to \(upstream)\n".utf8))
        if failOnUnused || match != nil {
            FileHandle.standardError.write(Data("nemosim serve: note: --match and --fail-on-unused apply when FILE is replayed, not while it is recorded\n".utf8))
        }
        let stop = Self.watchStopSignals()
        FileHandle.standardOutput.write(Data("nemosim listening on \(proxy.url)\n".utf8))
        try await proxy.wait()
        stop.cancel()
        FileHandle.standardError.write(Data("nemosim serve: recorded \(writer.entryCount) exchanges to \(url.path)\n".utf8))
    }
}

/// How `run`, `conformance` and `check-client --api` are given the admin
/// token of a simulator elsewhere.
struct AdminTokenOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The admin token of the simulator at --target or --api (nemosim serve --admin-token); else --admin-token-file or $NEMOSIM_ADMIN_TOKEN. Sent on admin calls only, never recorded, never passed to a checked client.",
        discussion: "A value given here shows in `ps`: prefer --admin-token-file or $NEMOSIM_ADMIN_TOKEN."))
    var adminToken: String?

    @Option(help: "A file holding that admin token (its first line).")
    var adminTokenFile: String?

    func resolved() throws -> String? { try resolveAdminToken(adminToken, file: adminTokenFile) }
}

/// The admin token from `--admin-token`, `--admin-token-file` or
/// `$NEMOSIM_ADMIN_TOKEN`, in that order; nil when none is given.
func resolveAdminToken(_ value: String?, file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
    if value != nil && file != nil {
        throw ValidationError("give --admin-token or --admin-token-file, not both")
    }
    if let value {
        guard !value.isEmpty else { throw ValidationError("--admin-token is empty: give a secret of 16 or more characters") }
        return value
    }
    if let file { return try readAdminTokenFile(file) }
    if let token = environment["NEMOSIM_ADMIN_TOKEN"], !token.isEmpty { return token }
    return nil
}

/// The admin token in a file (its first line), for `--admin-token-file`.
func readAdminTokenFile(_ path: String) throws -> String {
    let url = URL(fileURLWithPath: path)
    guard let handle = try? FileHandle(forReadingFrom: url) else {
        throw ValidationError("--admin-token-file \(path): cannot read it (does it exist, and may this user read it?)")
    }
    defer { try? handle.close() }
    let head = (try? handle.read(upToCount: 4097)) ?? Data()
    guard head.count <= 4096 else { throw ValidationError("--admin-token-file \(path): over 4 KiB; the file should hold the token only") }
    let token = String(decoding: head, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)?
        .trimmingCharacters(in: .whitespaces) ?? ""
    guard !token.isEmpty else { throw ValidationError("--admin-token-file \(path): the file is empty; write the token on its first line") }
    return token
}

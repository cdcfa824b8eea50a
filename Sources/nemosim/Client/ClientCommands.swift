import ArgumentParser
import Foundation
import NemoClient
import NemoCore

/// `nemosim token`: get an anonymous token and save it.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Get an anonymous token (100 free credits, valid 7 days) and save it for the next commands.",
        discussion: """
            Uses $NEMO_CLIENT_ID, else the client id kept at ~/.config/nemovideo/client_id.
            A client id gets 1 token per 7 days (skill 1.9): a saved token that has not
            expired is kept and nothing is asked for; --force asks anyway (a 429 inside
            the 7 days). The token is saved (mode 0600) in ~/.config/nemosim/credentials.json
            and never printed. Set $NEMO_TOKEN to use a token of your own instead.
            """)

    @OptionGroup var options: ClientOptions

    @Flag(help: "Ask for a new token even when a saved one has not expired.")
    var force = false

    func run() async throws {
        try await runClientCommand(options) { context in
            let (client, store) = (context.client, context.store)
            let saved = store.load(for: client.configuration.baseURL)
            if !force, saved?.token != nil, let expires = saved?.expiresAt, let date = ISO8601.date(from: expires), date > Date() {
                if options.json {
                    Output.json(["user_id": saved?.userID.map(JSONValue.string) ?? .null, "expires_at": .string(expires), "saved_to": .string(store.file.path),
                        "issued": false])
                } else {
                    Output.line("token for \(saved?.userID ?? "?") valid until \(expires) (saved, not shown; --force asks for a new one)")
                }
                return
            }
            let token = try await client.issueToken()
            try store.update(for: client.configuration.baseURL) {
                $0.token = token.token
                $0.userID = token.userID
                $0.expiresAt = token.expiresAt
                $0.sessionID = nil
            }
            if options.json {
                Output.json(["user_id": .string(token.userID), "credits": token.credits.map { .number(Double($0)) } ?? .null,
                    "expires_at": token.expiresAt.map(JSONValue.string) ?? .null, "saved_to": .string(store.file.path), "issued": true])
            } else {
                Output.line("token issued for \(token.userID): \(token.credits ?? 0) credits, expires \(token.expiresAt ?? "?") (saved, not shown)")
            }
        }
    }
}

/// `nemosim session`: create a session and save its id.
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session", abstract: "Create an editing session and save it as the current one.")

    @OptionGroup var options: ClientOptions

    @Option(help: "Task name.")
    var taskName = "project"

    @Option(help: "Language code, e.g. en (may be empty).")
    var language = ""

    func run() async throws {
        try await runClientCommand(options) { context in
            let (client, store) = (context.client, context.store)
            let session = try await client.createSession(taskName: taskName, language: language)
            try store.update(for: client.configuration.baseURL) {
                $0.sessionID = session.sessionID
                $0.taskID = session.taskID
                $0.userID = session.userID
            }
            // A claim token opens the project; the API token never goes in a URL.
            let claim = try await client.claimToken().link(webAppURL: client.configuration.webAppURL)
            if options.json {
                Output.json(["session_id": .string(session.sessionID), "task_id": .string(session.taskID), "user_id": .string(session.userID),
                    "claim_url": .string(claim)])
            } else {
                Output.line("session \(session.sessionID) (task \(session.taskID))")
                Output.line("open it in the web app: \(claim)")
            }
        }
    }
}

/// `nemosim upload`: upload files (streamed) or URLs.
struct UploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload files or URLs to the current session.",
        discussion: """
            Files stream from disk (up to 500 MB each); a progress bar shows on a terminal.
            Arguments starting with http:// or https:// are uploaded by URL.
            Accepted: mp4 mov avi webm mkv, jpg jpeg png gif webp, mp3 wav m4a aac.
            """)

    @OptionGroup var options: ClientOptions

    @Argument(help: "Files or URLs.")
    var items: [String]

    func validate() throws {
        if items.isEmpty { throw ValidationError("give at least one file or URL") }
    }

    func run() async throws {
        try await runClientCommand(options) { context in
            let client = context.client
            let urls = items.filter { $0.hasPrefix("http://") || $0.hasPrefix("https://") }
            let files = items.filter { !urls.contains($0) }.map { URL(fileURLWithPath: $0) }
            var uploaded: [UploadedFile] = []
            if !files.isEmpty {
                let result = try await client.upload(files: files) { progress in
                    Output.progress("uploading", done: progress.uploaded, total: progress.uploadTotal)
                }
                Output.endProgress()
                uploaded += result.files
            }
            if !urls.isEmpty { uploaded += try await client.upload(urls: urls).files }
            if options.json {
                Output.json(encoding: uploaded)
            } else {
                for file in uploaded {
                    let size = [file.width.map { "\($0)" }, file.height.map { "\($0)" }].compactMap { $0 }.joined(separator: "x")
                    Output.line("\(file.fileType) \(file.filename)\(size.isEmpty ? "" : " \(size)") sha256 \(file.hash ?? "-")")
                }
            }
        }
    }
}

/// `nemosim send`: send a message and show the agent's events.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a message to the agent and show what it does.",
        discussion: """
            Prints the agent's text as it arrives; tool calls are shown quietly (stderr),
            "still working" every 2 minutes of work. When the stream closes with no
            text, the session state is polled until the draft changes and its summary
            is printed. With --json, one JSON object per line (NDJSON).
            Exit 1 on an API error or a stream that timed out.
            """)

    @OptionGroup var options: ClientOptions

    @Argument(help: "The message, e.g. \"make a 30-second promo video with music\".")
    var message: String

    func run() async throws {
        let json = options.json
        try await runClientCommand(options, onAction: { action in
            // "Still working" is shown as its own line (the message event), not twice.
            if case .saidStillWorking = action { return }
            if json { Output.json(["action": .string(action.description)]) } else { Output.note("· \(action)") }
        }) { context in
            let client = context.client
            await client.discoverTimeScale()
            var outcome: MessageOutcome?
            for try await event in client.send(message) {
                switch event {
                case .agent(let agentEvent, let id):
                    if json {
                        Output.json(["event": .string(agentEvent.kind), "id": id.map(JSONValue.string) ?? .null, "data": Self.describe(agentEvent)])
                        continue
                    }
                    switch agentEvent {
                    case .text(let text) where !agentEvent.isTemporaryIssueNotice: Output.line(text)
                    case .toolCall(let name, _): Output.note("· tool \(name)")
                    case .toolResult(let name, _): Output.note("· tool \(name) done")
                    case .error(let message, _): Output.note("agent error: \(message)")
                    default: break
                    }
                case .stillWorking(let seconds):
                    if json { Output.json(["notice": "still_working", "seconds": .number(seconds)]) } else { Output.note("⏳ Still working... (\(Int(seconds / 60)) min)") }
                case .reconnecting(let attempt, _):
                    if !json { Output.note("· stream dropped, reconnecting (\(attempt))") }
                case .pollingState:
                    if !json { Output.note("· no text: checking the timeline") }
                case .finished(let result):
                    outcome = result
                }
            }
            guard let outcome else { return }
            if json {
                Output.json(["outcome": .string(outcome.ending.rawValue), "texts": .array(outcome.texts.map(JSONValue.string)),
                    "state_changed": .bool(outcome.stateChanged), "summary": outcome.state?.draft.map { .string($0.summary) } ?? .null,
                    "reconnects": .number(Double(outcome.reconnects))])
            } else if let draft = outcome.state?.draft {
                Output.line(draft.summary)
            }
            if outcome.ending == .timedOut {
                throw NemoError(kind: .streamTimeout, message: "heartbeats only for 10 minutes: the stream timed out")
            }
        }
    }

    static func describe(_ event: AgentEvent) -> JSONValue {
        switch event {
        case .text(let text): return .string(text)
        case .toolCall(let name, let args): return ["name": .string(name), "args": args]
        case .toolResult(let name, let result): return ["name": .string(name), "result": result]
        case .error(let message, let code): return ["message": .string(message), "code": code.map(JSONValue.string) ?? .null]
        case .heartbeat: return .null
        case .unknown(let raw): return .string(raw)
        }
    }
}

/// `nemosim state`: the timeline summary.
struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "Show the session's timeline (and stage progress).")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClientCommand(options) { context in
            let state = try await context.client.state()
            if options.json {
                Output.json(encoding: StateResponse(state: state))
            } else {
                Output.line(state.draft?.summary ?? "Timeline (0 tracks): empty")
                if let stages = state.stages {
                    Output.line("stages: " + stages.map { "\($0.name) \($0.status)" }.joined(separator: ", "))
                }
                Output.line(state.draft?.isReadyForExport == true ? "ready for export" : "not ready for export")
            }
        }
    }
}

/// `nemosim credits`.
struct CreditsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "credits", abstract: "Show the credit balance.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClientCommand(options) { context in
            let balance = try await context.client.credits()
            if options.json {
                Output.json(encoding: balance)
            } else {
                Output.line("credits: \(balance.available) available, \(balance.frozen) frozen, \(balance.total) total")
            }
        }
    }
}

/// `nemosim export`: render the draft and download the MP4.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Render the current draft and download the video.",
        discussion: "Polls the render (progress bar on a terminal), retries a failed render once with a new id, then downloads.")

    @OptionGroup var options: ClientOptions

    @Option(name: .shortAndLong, help: "Where to save the video.")
    var output = "nemovideo-export.mp4"

    func run() async throws {
        try await runClientCommand(options, onAction: { action in Output.note("· \(action)") }) { context in
            let client = context.client
            await client.discoverTimeScale()
            let file = URL(fileURLWithPath: output)
            let job = try await client.export(to: file, onStatus: { job in
                Output.progress("rendering (\(job.status))", done: Int64(job.progress ?? 0), total: 100)
            }, progress: { progress in
                Output.progress("downloading", done: progress.downloaded, total: progress.downloadTotal)
            })
            Output.endProgress()
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
            if options.json {
                Output.json(["render_id": job.id.map(JSONValue.string) ?? .null, "status": .string(job.status.rawValue), "file": .string(file.path),
                    "bytes": .number(Double(size))])
            } else {
                Output.line("saved \(file.path) (\(Output.megabytes(Int64(size)))) from render \(job.id ?? "?")")
            }
        }
    }
}

import ArgumentParser
import Foundation
import NemoCore

/// The `nemosim` command-line tool.
@main
struct Nemosim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nemosim",
        abstract: "Simulator, client and conformance suite for the NemoVideo agent API.",
        discussion: """
            `serve` runs a local simulator of the API (time-scaled, seeded, with an
            admin API for faults and the clock). The client commands talk to production
            or, with --api URL, to a simulator; token and session are saved between
            commands (~/.config/nemosim). Exit codes: 0 success, 1 API error,
            2 usage error. `doctor` checks the build and its C libraries.

            A session:
              nemosim serve --port 8080 --time-scale 1000 &
              nemosim token   --api http://127.0.0.1:8080
              nemosim session --api http://127.0.0.1:8080
              nemosim upload  --api http://127.0.0.1:8080 photo.png clip.mp4
              nemosim send    --api http://127.0.0.1:8080 "make a 30-second promo video"
              nemosim state   --api http://127.0.0.1:8080
              nemosim export  --api http://127.0.0.1:8080 -o promo.mp4
            """,
        version: NemosimVersion.current,
        groupedSubcommands: [
            CommandGroup(name: "Conformance", subcommands: [ConformanceCommand.self, RunCommand.self, CheckClientCommand.self, ReportCommand.self]),
            CommandGroup(name: "Simulator", subcommands: [Serve.self, ProfilesCommand.self, OpenAPICommand.self]),
            CommandGroup(
                name: "API client",
                subcommands: [TokenCommand.self, SessionCommand.self, UploadCommand.self, SendCommand.self, StateCommand.self, CreditsCommand.self, ExportCommand.self]),
            CommandGroup(name: "Recordings", subcommands: [RecordCommand.self, RecordingCommand.self, DriftCommand.self]),
            CommandGroup(name: "Tools", subcommands: [Doctor.self, Health.self]),
        ]
    )
}

extension Nemosim {
    /// Runs the command, with usage errors exiting 2 (not ArgumentParser's 64),
    /// as the README documents: 0 success, 1 API error, 2 usage error.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

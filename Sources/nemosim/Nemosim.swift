import ArgumentParser

/// The `nemosim` command-line tool.
@main
struct Nemosim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nemosim",
        abstract: "Simulator, client and conformance suite for the NemoVideo agent API.",
        discussion: """
            `serve` runs a local simulator of the API (time-scaled, seeded, with an
            admin API for faults and the clock); `doctor` checks that the build and the
            C libraries it links (libcurl, libxml2) work on this machine.
            """,
        version: NemosimVersion.current,
        subcommands: [Serve.self, Doctor.self]
    )
}

enum NemosimVersion {
    static let current = "0.1.0"
}

import ArgumentParser
import CCurl
import CLibXML2
import Foundation
import NemoClient
import NemoCore
import NemoResources
import ServerSentEvents

/// Proves the build works: links and calls libcurl and libxml2, round-trips
/// an agent event through the event-stream codec.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that nemosim and the libraries it links work on this machine.",
        discussion: "Exits 0 when every check passes, 1 otherwise. With --json, prints one JSON object."
    )

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() throws {
        var checks: [(name: String, ok: Bool, detail: String)] = []

        let curlVersion = String(cString: nemo_curl_version_string())
        let ssl = nemo_curl_ssl_version_string().map { String(cString: $0) } ?? "no TLS"
        checks.append(("libcurl", !curlVersion.isEmpty, "libcurl \(curlVersion) (\(ssl))"))

        let xmlVersion = String(cString: nemo_xml_version_string())
        checks.append(("libxml2", !xmlVersion.isEmpty, "libxml2 \(xmlVersion)"))

        let event = AgentEvent.toolCall(name: "generate_video", args: ["prompt": "city timelapse"])
        let data = AgentEventEncoder.data(for: event, dialect: .typed, context: .init(invocationID: "i", eventID: "1", timestamp: 0))
        var parser = ServerSentEventParser()
        let decoded = parser.feed(Array(ServerSentEventEncoder.encode(data: data, id: "1").utf8)).flatMap(AgentEventDecoder.events(from:))
        checks.append(("event-stream codec", decoded == [event], decoded == [event] ? "round trip ok" : "round trip gave \(decoded)"))

        // The files the binary carries (render MP4, profiles, built-in suite, schema).
        let embedded = EmbeddedResources.names.map { ($0, EmbeddedResources.data($0)) }
        let unreadable = embedded.filter { $0.1 == nil }.map(\.0)
        let bytes = embedded.compactMap { $0.1?.count }.reduce(0, +)
        checks.append((
            "embedded files", unreadable.isEmpty && !embedded.isEmpty,
            unreadable.isEmpty ? "\(embedded.count) files, \(bytes) bytes, inside the binary" : "unreadable: \(unreadable.joined(separator: ", "))"
        ))

        let allOK = checks.allSatisfy(\.ok)
        if json {
            let value: JSONValue = [
                "ok": .bool(allOK), "version": .string(NemosimVersion.current),
                "checks": .array(checks.map { ["name": .string($0.name), "ok": .bool($0.ok), "detail": .string($0.detail)] }),
            ]
            print(value.jsonString(pretty: true))
        } else {
            print("nemosim \(NemosimVersion.current)")
            for check in checks { print("\(check.ok ? "ok  " : "FAIL") \(check.name): \(check.detail)") }
        }
        if !allOK { throw ExitCode.failure }
    }
}

/// `nemosim health`: whether a simulator answers its health check, for a
/// container's HEALTHCHECK (the image has no curl) and for scripts.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running simulator whether it is healthy (GET /_nemosim/health).",
        discussion: """
            Exits 0 when it answers {"status": "ok"}, 1 when it answers anything else or not at all within --timeout, 2 on usage errors. \
            Prints the answer (with --quiet, nothing).

            Example (a container's health check):
              HEALTHCHECK CMD ["nemosim", "health", "--quiet"]
            """)

    @Option(help: "The simulator's address.")
    var url = "http://127.0.0.1:8080"

    @Option(help: "Seconds to wait for the answer (0.1 to 300).")
    var timeout: Double = 5

    @Flag(help: "Print nothing; the exit status says it all.")
    var quiet = false

    func validate() throws {
        try validateBaseURL(url, "--url")
        guard CheckedNumber.seconds(timeout, in: 0.1...300) != nil else { throw ValidationError("--timeout must be 0.1 to 300 seconds, got \(timeout)") }
    }

    func run() async throws {
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let response: ClientResponse
        do {
            response = try await CurlTransport().send(ClientRequest(method: "GET", url: base + "/_nemosim/health", timeout: timeout))
        } catch {
            if !quiet { FileHandle.standardError.write(Data("nemosim health: \(base) did not answer: \(error)\n".utf8)) }
            throw ExitCode.failure
        }
        let health = try? JSONValue.parse(response.body)
        guard response.status == 200, health?["status"] == "ok" else {
            if !quiet {
                let said = String(decoding: response.body.prefix(300), as: UTF8.self)
                FileHandle.standardError.write(Data("nemosim health: \(base) is not healthy: HTTP \(response.status) \(said)\n".utf8))
            }
            throw ExitCode.failure
        }
        if !quiet { print(String(decoding: response.body, as: UTF8.self)) }
    }
}

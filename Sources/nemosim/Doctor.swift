import ArgumentParser
import CCurl
import CLibXML2
import Foundation
import NemoCore
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

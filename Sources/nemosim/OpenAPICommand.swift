import ArgumentParser
import Foundation
import NemoCore
import NemoSimulator

/// `nemosim openapi`: the API's OpenAPI 3.1 contract.
struct OpenAPICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the API's OpenAPI 3.1 contract (YAML; --json for JSON).",
        discussion: """
            Every endpoint with its parameters, request body, success envelope and errors; the
            event stream as text/event-stream with its events' schema; oneOf where profiles
            differ (errors with their HTTP status or as HTTP 200 with a code; the three render
            answer shapes). Generated from nemosim's route table and wire types: the same
            document as Fixtures/openapi.yaml, and as a running simulator serves at
            GET /_nemosim/openapi.json (with its own URL first in servers).

            Point contract tools at it, e.g. Schemathesis against a simulator:
              nemosim openapi -o openapi.yaml
              schemathesis run openapi.yaml --url http://127.0.0.1:8080 \\
                -H "Authorization: Bearer $TOKEN" -H "X-Skill-Source: me" -H "X-Skill-Version: 1.0.0" -H "X-Skill-Platform: ci"
            """)

    @Flag(help: "Print JSON instead of YAML.")
    var json = false

    @Option(name: .shortAndLong, help: "Write the document to this file instead of stdout.")
    var output: String?

    func run() throws {
        let text: String
        do {
            text = json ? try OpenAPIContract.document().jsonString(pretty: true) + "\n" : try OpenAPIContract.yaml()
        } catch {
            throw fail("nemosim openapi", "could not make the contract: \(error)", code: 1)
        }
        guard let output else {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        try writeOutput(text, to: output, for: "nemosim openapi")
    }
}

import Foundation
import NemoCore
@testable import NemoSimulator
import Testing
import Yams

@Suite("OpenAPI contract")
struct OpenAPIContractTests {
    static let committed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/openapi.yaml")

    @Test("The committed Fixtures/openapi.yaml is what the route table and wire types give (make it again with nemosim openapi -o Fixtures/openapi.yaml)")
    func committedIsCurrent() throws {
        let committed = try String(contentsOf: Self.committed, encoding: .utf8)
        let generated = try OpenAPIContract.yaml()
        #expect(committed == generated, "Fixtures/openapi.yaml is stale: run `swift run nemosim openapi -o Fixtures/openapi.yaml`")
    }

    @Test("The contract and the route table agree: every route an operation at its path and method, with its scope and envelope, and no other operation")
    func agreesWithRouteTable() throws {
        let document = try OpenAPIContract.document()
        let paths = try #require(document["paths"]?.objectValue)
        var operations: [String] = []
        for (path, item) in paths {
            for method in (item.objectValue ?? [:]).keys { operations.append("\(method.uppercased()) \(path)") }
        }
        #expect(operations.sorted() == Route.all.map(\.description).sorted())
        for route in Route.all {
            let operation = try #require(document["paths"]?[route.template]?[route.method.lowercased()])
            #expect(operation["operationId"] == .string(route.name))
            #expect(operation["x-nemosim-scope"]?.stringValue == route.scope?.rawValue)
            let pathParameters = operation["parameters"]?.arrayValue?.filter { $0["in"] == "path" }.compactMap { $0["name"]?.stringValue }
            #expect(pathParameters == route.parameters, "\(route)")
            let headers = operation["parameters"]?.arrayValue?.filter { $0["in"] == "header" }.compactMap { $0["name"]?.stringValue } ?? []
            #expect(route.scope == nil ? headers == [NemoHeader.clientID] : headers == AttributionHeaders.names, "\(route)")
            let success = operation["responses"]?["200"]?["content"]
            switch route.body {
            case .json: #expect(success?["application/json"] != nil)
            case .eventStream: #expect(success?["text/event-stream"] != nil && success?["application/json"] != nil)
            case .file: #expect(success?["video/mp4"] != nil)
            }
            let errorRef = route.envelope == .standard ? "#/components/schemas/Error" : "#/components/schemas/RenderError"
            #expect(operation["responses"]?["default"]?["content"]?["application/json"]?["schema"]?["$ref"] == .string(errorRef), "\(route)")
        }
    }

    @Test("Schemas are read off the wire types' encodings: a field in every example is required, one in some only is optional, a null makes it nullable")
    func inference() {
        let schema = OpenAPIContract.inferred([
            ["a": 1, "b": "x", "c": [["d": true]]],
            ["a": 2.5, "c": [], "e": .null],
        ])
        #expect(schema["required"] == ["a", "c"])
        #expect(schema["properties"]?["a"] == ["type": "number"])
        #expect(schema["properties"]?["b"] == ["type": "string"])
        #expect(schema["properties"]?["c"]?["items"]?["properties"]?["d"] == ["type": "boolean"])
        #expect(schema["properties"]?["e"] == ["type": "null"])
        // The wire types' own keys: a renamed CodingKey would change these.
        let state = OpenAPIContract.inferred(OpenAPIContract.stateExamples)
        #expect(state["required"] == ["session_id", "state", "task_id", "task_name", "user_id"])
        #expect(state["properties"]?["state"]?["required"]?.arrayValue?.contains("stages") == false, "a fresh session has no stages")
        let credits = OpenAPIContract.operations[Route.credits.name]?.data
        #expect(credits?["required"] == ["available", "frozen", "total"])
    }

    @Test("A simulator serves the contract at /_nemosim/openapi.json, without the admin token, its own URL first")
    func served() async throws {
        let server = try await SimulatorServer.start(.init(timeScale: 1000, adminToken: "secret-admin-token"))
        let answer = await CurlTestClient.request("GET", server.url + "/_nemosim/openapi.json")
        #expect(answer.status == 200)
        #expect(answer.json["openapi"] == "3.1.0")
        #expect(answer.json["servers"]?[0]?["url"] == .string(server.url))
        var served = answer.json
        served.set("servers", .array(Array(served["servers"]?.arrayValue?.dropFirst() ?? [])))
        #expect(served == (try OpenAPIContract.document()))
        await server.stop()
    }
}

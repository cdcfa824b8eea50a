import Foundation
import NemoClient
import NemoCore
import NemoReports
import NemoScenarios
import NemoSimulator
import Testing

/// Each step's expectations read what that step's own action produced, not
/// whatever the transport saw last (with recovery on, the client makes calls
/// of its own: a state query before a message, a new token after a 1001).
@Suite("A step's expectations read its own result")
struct StepResultTests {
    /// Runs one scenario (YAML text) against an embedded simulator, as a user would.
    func run(_ yaml: String) async throws -> ScenarioResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-\(UUID().uuidString).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try await ScenarioSuite(target: .embedded(), fixturesDirectory: fixtures).run(try ScenarioSuite.load([file.path]))
        return try #require(run.result.scenarios.first)
    }

    @Test("Out of credits is 2001 on the message, with the client's recovery on and off", arguments: [true, false])
    func outOfCredits(recovery: Bool) async throws {
        let result = try await run("""
            name: out of credits is 2001 on the message
            recovery: \(recovery)
            steps:
              - token: {}
              - session: {}
              - set_credits: 0
              - message: "make a 30-second promo video"
                expect: {code: 2001}
            """)
        #expect(result.outcome == .passed, "\(result.outcome)")
        // The refusal itself was checked: its JSON is the step's.
        let failing = try await run("""
            name: the refusal's own JSON
            recovery: \(recovery)
            steps:
              - token: {}
              - session: {}
              - set_credits: 0
              - message: "make a 30-second promo video"
                expect:
                  code: 2001
                  json:
                    - {path: message, contains: "needs 100"}
                    - {path: data.state, exists: true}
            """)
        guard case .failed(let failure) = failing.outcome else { Issue.record("expected a failure, got \(failing.outcome)"); return }
        #expect(failure.expected == "data.state exists" && failure.actual.contains("2001"), "\(failure)")
    }

    @Test("A message step's expectations read how its stream ended")
    func streamEnding() async throws {
        let result = try await run("""
            name: a silent edit
            steps:
              - token: {}
              - session: {}
              - set_credits: 1000
              - profile: {silent_close_ratio: 1}
              - message: "make a video"
              - advance_clock: 400
              - message: "add a title 'Hello'"
                expect:
                  ending: silent_close
                  silent_close: true
                  actions: [polled_state, "polled state (changed)"]
            """)
        #expect(result.outcome == .passed, "\(result.outcome)")
    }

    @Test("A step that fails reports its own error and the answer it came in")
    func thrownError() async throws {
        let result = try await run("""
            name: a token that no longer works, rules off
            recovery: false
            steps:
              - token: {}
              - fault: {match: {path: /api/credits/balance/simple}, respond: {code: 1001}}
              - credits: {}
                expect:
                  error: "1001"
                  code: 1001
                  status: 200
            """)
        #expect(result.outcome == .passed, "\(result.outcome)")
        let unexpected = try await run("""
            name: an error nobody expected
            recovery: false
            steps:
              - token: {}
              - fault: {match: {path: /api/credits/balance/simple}, respond: {http_status: 429}}
              - credits: {}
                expect: {json: [{path: data.available, equals: 100}]}
            """)
        guard case .failed(let failure) = unexpected.outcome else { Issue.record("expected a failure"); return }
        #expect(failure.expected == "success" && failure.actual.contains("429"), "\(failure)")
    }

    @Test("With recovery on, the step's result is its call's last answer, and the client's own calls are its actions")
    func recoveredCall() async throws {
        let result = try await run("""
            name: 1001 mended by a new token
            steps:
              - profile: {tokens_per_client: 2}
              - token: {}
              - fault: {match: {path: /api/credits/balance/simple}, respond: {code: 1001}}
              - credits: {}
                expect:
                  code: 0
                  json: [{path: data.available, equals: 100}]
                  actions: [renewed_token, "retried (1001)"]
            """)
        #expect(result.outcome == .passed, "\(result.outcome)")
    }

    @Test("A download step's expectations read the download's description")
    func download() async throws {
        let result = try await run("""
            name: a download's description
            steps:
              - token: {}
              - download: {url: /api/credits/balance/simple}
                expect:
                  status: 200
                  code: 0
                  json:
                    - {path: bytes, gt: 10}
                    - {path: mp4, equals: false}
                    - {path: body.data.available, equals: 100}
            """)
        #expect(result.outcome == .passed, "\(result.outcome)")
    }
}

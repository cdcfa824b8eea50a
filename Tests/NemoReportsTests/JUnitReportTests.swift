import CLibXML2
import Foundation
import NemoReports
import Testing

let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/schemas/junit-10.xsd")

func sampleRun() -> RunResult {
    RunResult(
        target: "embedded", seed: 42, timeScale: 1000, toolVersion: "0.3.0", startedAt: "2026-11-28T04:00:00Z",
        files: [
            ScenarioFileResult(file: "Fixtures/scenarios/tokens.yaml", scenarios: [
                ScenarioResult(name: "issue a token", tags: ["tokens"], outcome: .passed, duration: 0.012, log: ["step 1 (token): 200 code 0"]),
                ScenarioResult(
                    name: "expired token gets 1001", tags: ["tokens"],
                    outcome: .failed(StepFailure(step: "step 3 (credits)", expected: "code 1001", actual: "code 0", message: "envelope code differs")),
                    duration: 1234.5, log: ["step 1 (token): ok", "step 2 (advance clock 8 days): ok", "step 3 (credits): code 0 \u{1}\u{7}<&>\"'"]),
            ]),
            ScenarioFileResult(file: "Fixtures/scenarios/admin.yaml", scenarios: [
                ScenarioResult(name: "arm a fault", outcome: .skipped("needs the simulator's admin API; the target is production"), duration: 0),
                ScenarioResult(name: "broken \u{0}name", outcome: .error("could not connect"), duration: 0.5),
            ]),
        ])
}

@Suite("JUnit reports")
struct JUnitReportTests {
    @Test("Outcomes round-trip in their JSON shape, and results recorded by earlier builds still read")
    func outcomeCoding() throws {
        let run = sampleRun()
        let again = try JSONDecoder().decode(RunResult.self, from: JSONEncoder().encode(run))
        #expect(again == run)
        let flat = String(decoding: try JSONEncoder().encode(ScenarioOutcome.skipped("why")), as: UTF8.self)
        #expect(flat.contains(#""status":"skipped""#) && flat.contains(#""reason":"why""#))
        let legacy: [(String, ScenarioOutcome)] = [
            (#"{"passed":{}}"#, .passed),
            (#"{"failed":{"_0":{"step":"s","expected":"e","actual":"a","message":"m"}}}"#, .failed(StepFailure(step: "s", expected: "e", actual: "a", message: "m"))),
            (#"{"skipped":{"_0":"no admin API"}}"#, .skipped("no admin API")),
            (#"{"error":{"_0":"boom"}}"#, .error("boom")),
        ]
        for (json, outcome) in legacy {
            #expect(try JSONDecoder().decode(ScenarioOutcome.self, from: Data(json.utf8)) == outcome, "\(json)")
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ScenarioOutcome.self, from: Data(#"{"status":"maybe"}"#.utf8)) }
    }

    @Test("The report validates against the Jenkins xUnit JUnit schema with libxml2")
    func validates() throws {
        let xml = try JUnitReport.xml(for: sampleRun())
        try JUnitReport.validate(xml, schema: schema)
    }

    @Test("Counts, names, times, failure details, skip reasons, step logs and properties are in the report")
    func content() throws {
        let text = String(decoding: try JUnitReport.xml(for: sampleRun()), as: UTF8.self)
        #expect(text.contains(#"<testsuites name="nemosim" tests="4" failures="1" errors="1""#))
        #expect(text.contains(#"<testsuite name="tokens" tests="2" failures="1" errors="0" skipped="0" time="1234.512""#))
        #expect(text.contains(#"file="Fixtures/scenarios/tokens.yaml""#))
        #expect(text.contains(#"<testcase classname="tokens" name="issue a token" time="0.012""#))
        #expect(text.contains("expected: code 1001"))
        #expect(text.contains("actual: code 0"))
        #expect(text.contains("step: step 3 (credits)"))
        #expect(text.contains(#"<skipped message="needs the simulator's admin API; the target is production""#))
        #expect(text.contains(#"<property name="seed" value="42"/>"#))
        #expect(text.contains(#"<property name="time_scale" value="1000.000"/>"#))
        #expect(text.contains("step 2 (advance clock 8 days): ok"))
        // Escaped, and control characters XML cannot hold are gone.
        #expect(text.contains("&lt;&amp;&gt;"))
        #expect(!text.contains("\u{1}") && !text.contains("\u{7}") && !text.contains("\u{0}"))
    }

    @Test("A report that breaks the schema is refused, with the reason")
    func invalidIsRefused() throws {
        let bad = Data(#"<?xml version="1.0"?><testsuites><testsuite name="x"><testcase/></testsuite></testsuites>"#.utf8)
        do {
            try JUnitReport.validate(bad, schema: schema)
            Issue.record("an invalid report validated")
        } catch let error as ReportError {
            #expect(error.message.contains("tests") || error.message.contains("name"), "\(error.message)")
        }
    }

    @Test("The Markdown summary lists every scenario with its result")
    func markdown() {
        let summary = MarkdownSummary.render(sampleRun())
        #expect(summary.hasPrefix("## nemosim: 1 passed, 1 failed, 1 skipped, 1 errors"))
        #expect(summary.contains("| expired token gets 1001 | Fixtures/scenarios/tokens.yaml | **failed** at step 3 (credits): expected code 1001, got code 0 |"))
        #expect(summary.contains("seed 42"))
    }
}

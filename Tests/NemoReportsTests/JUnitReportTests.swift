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
                ScenarioResult(name: "issue a token", tags: ["tokens"], outcome: .passed, duration: 0.012, log: ["step 1 (token): 200 code 0"], line: 1),
                ScenarioResult(
                    name: "expired token gets 1001", tags: ["tokens"],
                    outcome: .failed(StepFailure(step: "step 3 (credits)", expected: "code 1001", actual: "code 0", message: "envelope code differs")),
                    duration: 1234.5, log: ["step 1 (token): ok", "step 2 (advance clock 8 days): ok", "step 3 (credits): code 0 \u{1}\u{7}<&>\"'"],
                    line: 12),
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
        #expect(text.contains(#"<testsuite name="Fixtures.scenarios.tokens" tests="2" failures="1" errors="0" skipped="0" time="1234.512""#))
        #expect(text.contains(#"file="Fixtures/scenarios/tokens.yaml""#))
        #expect(text.contains(
            #"<testcase classname="Fixtures.scenarios.tokens" name="issue a token" time="0.012" file="Fixtures/scenarios/tokens.yaml" line="1""#))
        #expect(text.contains(#"name="expired token gets 1001" time="1234.500" file="Fixtures/scenarios/tokens.yaml" line="12""#))
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

    @Test("Files of the same name in different folders get distinct, stable suite and class names, from their relative paths")
    func sameStemDifferentFolders() throws {
        let passed = ScenarioResult(name: "smoke", outcome: .passed, duration: 0.1, line: 3)
        let run = RunResult(
            target: "embedded", toolVersion: "test", startedAt: "now",
            files: [
                ScenarioFileResult(file: "a/smoke.yaml", scenarios: [passed]), ScenarioFileResult(file: "b/smoke.yaml", scenarios: [passed]),
                ScenarioFileResult(file: "../up/smoke.yml", scenarios: [passed]), ScenarioFileResult(file: "./c.d/smoke.yaml", scenarios: [passed]),
            ])
        let xml = try JUnitReport.xml(for: run)
        try JUnitReport.validate(xml, schema: schema)
        let text = String(decoding: xml, as: UTF8.self)
        for (classname, file) in [("a.smoke", "a/smoke.yaml"), ("b.smoke", "b/smoke.yaml"), ("__.up.smoke", "../up/smoke.yml"), ("c.d.smoke", "./c.d/smoke.yaml")] {
            #expect(text.contains(#"<testsuite name="\#(classname)""#), "\(classname)")
            #expect(text.contains(#"<testcase classname="\#(classname)" name="smoke" time="0.100" file="\#(file)" line="3""#), "\(classname)")
        }
        #expect(try JUnitReport.xml(for: run) == xml)
    }

    @Test("Under GitHub Actions, each failure and error is an ::error annotation at its file and line, escaped as the runner reads it")
    func githubAnnotations() {
        let lines = GitHubAnnotations.lines(for: sampleRun())
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("::error file=Fixtures/scenarios/tokens.yaml,line=12,title=expired token gets 1001::step 3 (credits)%0Aexpected: code 1001%0Aactual: code 0"))
        // No line known: the file alone. Properties escape : and , too.
        #expect(lines[1].hasPrefix("::error file=Fixtures/scenarios/admin.yaml,title=broken \u{0}name::could not connect"))
        let tricky = RunResult(
            target: "x", toolVersion: "t", startedAt: "now",
            files: [ScenarioFileResult(file: "a,b:c.yaml", scenarios: [ScenarioResult(name: "50%, done: no", outcome: .error("line 1\r\nline 2 100%"), duration: 0, line: 7)])])
        #expect(GitHubAnnotations.lines(for: tricky) == ["::error file=a%2Cb%3Ac.yaml,line=7,title=50%25%2C done%3A no::line 1%0D%0Aline 2 100%25"])
    }
}

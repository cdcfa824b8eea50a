import Foundation
import NemoClient
import NemoCore
import NemoReports
import NemoScenarios
import NemoSimulator
import Testing

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

func parseError(_ yaml: String) -> ScenarioFileError? {
    do {
        _ = try ScenarioParser.parse(yaml, file: "bad.yaml")
        return nil
    } catch let error as ScenarioFileError {
        return error
    } catch {
        return nil
    }
}

@Suite("Scenario files")
struct ScenarioParserTests {
    @Test("Errors name the file, the line and what is wrong")
    func errorsPointAtLines() {
        let unknownStep = parseError("name: x\nsteps:\n  - token: {}\n  - teleport: {}\n")
        #expect(unknownStep?.line == 4 && unknownStep?.description.hasPrefix("bad.yaml:4:") == true)
        let unknownExpectation = parseError("name: x\nsteps:\n  - credits: {}\n    expect:\n      colour: blue\n")
        #expect(unknownExpectation?.line == 5 && unknownExpectation?.message.contains("unknown expectation \"colour\"") == true)
        let noName = parseError("steps:\n  - token: {}\n")
        #expect(noName?.message.contains("needs a name") == true)
        let badYAML = parseError("name: x\nsteps: [\n")
        #expect(badYAML?.message.contains("not valid YAML") == true, "\(String(describing: badYAML))")
        let badJSONCheck = parseError("name: x\nsteps:\n  - credits: {}\n    expect:\n      json:\n        - {path: data.available}\n")
        #expect(badJSONCheck?.line == 6)
        let badPart = parseError("name: x\nsteps:\n  - token: {}\n  - request:\n      method: POST\n      path: /x\n      multipart: [{name: files}]\n")
        #expect(badPart?.line == 5 && badPart?.message.contains("needs one of file") == true, "\(String(describing: badPart))")
        let noURL = parseError("name: x\nsteps:\n  - download: {to: /tmp/x}\n")
        #expect(noURL?.line == 3 && noURL?.message.contains("download needs a url") == true, "\(String(describing: noURL))")
        let badEnding = parseError("name: x\nsteps:\n  - message: hi\n    expect:\n      ending: done\n")
        #expect(badEnding?.line == 5 && badEnding?.message.contains("ending needs one of") == true)
        let unknownRequestKey = parseError("name: x\nsteps:\n  - request: {method: GET, path: /x, body: y}\n")
        #expect(unknownRequestKey?.message.contains("unknown request key \"body\"") == true)
        // Each kind of value names its expectation.
        for (key, value, message) in [
            ("status", "ok", "status needs a number"), ("heartbeats_at_least", "many", "heartbeats_at_least needs a number"),
            ("duration_at_most", "soon", "duration_at_most needs seconds"), ("text_lacks", "[1, 2]", "text_lacks needs a string"),
            ("error", "[1]", "error needs the text the step's error contains"), ("silent_close", "maybe", "silent_close needs true or false"),
        ] {
            let wrong = parseError("name: x\nsteps:\n  - credits: {}\n    expect:\n      \(key): \(value)\n")
            #expect(wrong?.line == 5 && wrong?.message.contains(message) == true, "\(key): \(String(describing: wrong))")
        }
    }

    @Test("The built-in suite parses: every file, every scenario tagged")
    func builtInSuite() throws {
        let directory = fixtures.appendingPathComponent("scenarios")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 5)
        for file in files {
            let scenarios = try ScenarioParser.load(file: directory.appendingPathComponent(file).path)
            #expect(scenarios.allSatisfy { !$0.tags.isEmpty }, "\(file)")
        }
    }
}

@Suite("Scenario engine against a real simulator")
struct ScenarioRunnerTests {
    /// A simulator that lets every test sign in from 127.0.0.1 as often as it likes.
    func start() async throws -> SimulatorServer {
        var profile = BehaviourProfile()
        profile.tokensPerIPPerHour = 1_000_000
        profile.tokensPerIPPerWindow = 1_000_000
        return try await SimulatorServer.start(.init(timeScale: 1000, profile: profile))
    }

    func runner(_ server: SimulatorServer) -> ScenarioRunner {
        ScenarioRunner(baseURL: server.url, transport: CurlTransport(), fixturesDirectory: fixtures)
    }

    @Test("Each kind of expectation can fail, with expected vs actual")
    func expectationsFail() async throws {
        let server = try await start()
        let runner = runner(server)
        let cases: [(String, String)] = [
            ("status: 201", "HTTP 201"),
            ("code: 1001", "code 1001"),
            ("json:\n        - {path: data.available, equals: 99}", "data.available = 99"),
            ("json:\n        - {path: data.available, gt: 100}", "data.available > 100"),
            ("json:\n        - {path: data.nothing, exists: true}", "data.nothing exists"),
            ("json:\n        - {path: data.available, matches: \"^x\"}", "matches"),
            ("actions: [\"waited 30 s\"]", "waited 30 s"),
        ]
        for (expectation, expected) in cases {
            let yaml = "name: fails\nsteps:\n  - token: {}\n  - credits: {}\n    expect:\n      \(expectation)\n"
            let scenario = try #require(try ScenarioParser.parse(yaml, file: "f.yaml").first)
            let result = await runner.run(scenario, simulator: true)
            guard case .failed(let failure) = result.outcome else {
                Issue.record("\(expectation) did not fail: \(result.outcome)")
                continue
            }
            #expect(failure.expected.contains(expected), "\(failure.expected)")
            #expect(failure.step.contains("step 2 (credits, line 4)"))
            #expect(!failure.actual.isEmpty)
        }
        let message = try #require(try ScenarioParser.parse(
            "name: m\nsteps:\n  - token: {}\n  - session: {}\n  - message: hello\n    expect:\n      events: [tool_call]\n", file: "m.yaml").first)
        let result = await runner.run(message, simulator: true)
        guard case .failed(let failure) = result.outcome else { Issue.record("events expectation did not fail"); return }
        #expect(failure.expected == "events tool_call" && failure.actual.contains("saw"))
        await server.stop()
    }

    @Test("Message, timing, error and download expectations fail too, with expected vs actual")
    func moreExpectationsFail() async throws {
        let server = try await start()
        let runner = runner(server)
        func failure(_ steps: String) async throws -> StepFailure? {
            let yaml = "name: fails\nsteps:\n  - token: {}\n  - session: {}\n" + steps
            let scenario = try #require(try ScenarioParser.parse(yaml, file: "f.yaml").first)
            let result = await runner.run(scenario, simulator: true)
            guard case .failed(let failure) = result.outcome else {
                Issue.record("did not fail: \(steps)")
                return nil
            }
            return failure
        }
        // Every reply the simulator gives mentions videos; a generation has heartbeats.
        let cases: [(String, String)] = [
            ("  - message: hello\n    expect: {text_contains: zebra}\n", "text containing \"zebra\""),
            ("  - message: hello\n    expect: {text_lacks: video}\n", "no text containing \"video\""),
            ("  - message: hello\n    expect: {stream_text_contains: zebra}\n", "a streamed text containing \"zebra\""),
            ("  - message: hello\n    expect: {silent_close: true}\n", "silent close true"),
            ("  - message: hello\n    expect: {ending: timed_out}\n", "ending timed_out"),
            ("  - message: make a video\n    expect: {heartbeats_at_least: 1000}\n", "at least 1000 heartbeats"),
            ("  - message: make a video\n    expect: {heartbeat_gap_at_most: 0.001}\n", "heartbeat gaps of at most 0.001 s"),
            ("  - message: make a video\n    expect: {duration_at_most: 1}\n", "at most 1.0 simulated s"),
            ("  - credits: {}\n    expect: {duration_at_least: 100000}\n", "at least 100000.0 simulated s"),
            ("  - credits: {}\n    expect: {error: nope}\n", "an error containing \"nope\""),
            ("  - download: {url: \"http://127.0.0.1:1/x\"}\n    expect: {error: nope}\n", "an error containing \"nope\""),
            ("  - credits: {}\n    expect: {text_lacks: video}\n", "no text containing \"video\""),
            ("  - credits: {}\n    expect: {silent_close: false}\n", "silent close false"),
            ("  - credits: {}\n    expect:\n      json:\n        - {path: data.available, lt: 100}\n", "data.available < 100.0"),
            ("  - credits: {}\n    expect:\n      json:\n        - {path: data.available, lte: 99}\n", "data.available <= 99.0"),
            ("  - credits: {}\n    expect:\n      json:\n        - {path: data.available, gte: 101}\n", "data.available >= 101.0"),
            ("  - credits: {}\n    expect:\n      json:\n        - {path: data.available, contains: \"7\"}\n", "data.available contains \"7\""),
            ("  - download: {url: /api/credits/balance/simple}\n    expect:\n      json:\n        - {path: mp4, equals: true}\n", "mp4 = true"),
        ]
        for (steps, expected) in cases {
            guard let failure = try await failure(steps) else { continue }
            #expect(failure.expected.contains(expected), "\(steps): \(failure.expected)")
            #expect(failure.step.contains("step 3"), "\(failure.step)")
            #expect(!failure.actual.isEmpty)
        }
        // A missing JSON path shows what the response held instead.
        let missing = try await failure("  - credits: {}\n    expect:\n      json:\n        - {path: data.nothing, equals: 1}\n")
        #expect(missing?.actual.contains("\"available\"") == true, "\(String(describing: missing?.actual))")
        // A download describes the file: a JSON body is kept, and it is no MP4.
        let described = try await failure("  - download: {url: /api/credits/balance/simple}\n    expect:\n      json:\n        - {path: body.data.available, equals: 1}\n")
        #expect(described?.actual == "100", "\(String(describing: described?.actual))")
        await server.stop()
    }

    @Test("Downloads: a path goes with the token, an absolute URL without it; an error answer is described with its code")
    func downloads() async throws {
        let server = try await start()
        let kept = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-kept-\(UUID().uuidString).txt")
        try Data("keep me".utf8).write(to: kept)
        defer { try? FileManager.default.removeItem(at: kept) }
        let yaml = """
            name: d
            recovery: false
            steps:
              - token: {}
              - download: {url: /api/credits/balance/simple}
                expect:
                  code: 0
                  json:
                    - {path: body.data.available, equals: 100}
              - download: {url: "${base_url}/api/credits/balance/simple"}
                expect: {code: 1001}
              - download: {url: /api/render/proxy/render_nope/download, to: "\(kept.path)"}
                expect:
                  status: 404
                  json:
                    - {path: body.message, contains: render_nope}
                    - {path: bytes, gt: 10}
            """
        let scenario = try #require(try ScenarioParser.parse(yaml, file: "d.yaml").first)
        let result = await runner(server).run(scenario, simulator: true)
        #expect(result.outcome == .passed, "\(result.outcome) \(result.log)")
        #expect(try String(contentsOf: kept, encoding: .utf8) == "keep me", "an error answer must not replace the file")
        await server.stop()
    }

    @Test("Failure reports never show a token")
    func tokensMasked() async throws {
        let server = try await start()
        let yaml = "name: m\nsteps:\n  - token: {}\n    expect:\n      json:\n        - {path: data.nothing, equals: 1}\n"
        let scenario = try #require(try ScenarioParser.parse(yaml, file: "m.yaml").first)
        let result = await runner(server).run(scenario, simulator: true)
        guard case .failed(let failure) = result.outcome else { Issue.record("did not fail"); return }
        #expect(failure.actual.contains("nmv_usr_…"), "\(failure.actual)")
        #expect(failure.actual.range(of: "nmv_usr_[A-Za-z0-9]", options: .regularExpression) == nil, "\(failure.actual)")
        #expect(result.log.allSatisfy { $0.range(of: "nmv_usr_[A-Za-z0-9]", options: .regularExpression) == nil }, "\(result.log)")
        #expect(ScenarioRunner.masked("a nmv_usr_abc-123_x. b nmv_usr_Zab/c+d=") == "a nmv_usr_… b nmv_usr_…")
        #expect(ScenarioRunner.masked("pattern ^nmv_usr_ stays") == "pattern ^nmv_usr_ stays")
        #expect(ScenarioRunner.masked("token tok3n-of-another-shape here", known: ["tok3n-of-another-shape"]) == "token nmv_usr_… here")
        await server.stop()
    }

    @Test("A runner's starting token (NEMO_TOKEN against production) is used instead of issuing anonymous ones")
    func startingToken() async throws {
        let server = try await start()
        let yaml = "name: t\nrecovery: false\nsteps:\n  - credits: {}\n    expect: {code: 1001}\n"
        let scenario = try #require(try ScenarioParser.parse(yaml, file: "t.yaml").first)
        let given = ScenarioRunner(baseURL: server.url, transport: CurlTransport(), fixturesDirectory: fixtures, token: "nmv_usr_not_issued_here")
        #expect(await given.run(scenario, simulator: true).outcome == .passed)
        // Without one, the client issues an anonymous token and the call succeeds.
        guard case .failed(let failure) = await runner(server).run(scenario, simulator: true).outcome else {
            Issue.record("expected code 0 without a starting token")
            return
        }
        #expect(failure.actual == "code 0")
        await server.stop()
    }

    @Test("poll retries until the expectations hold, then reports the last failure; timeout stops a step")
    func pollAndTimeout() async throws {
        let server = try await start()
        let runner = runner(server)
        let never = try #require(try ScenarioParser.parse(
            "name: p\nsteps:\n  - token: {}\n  - credits: {}\n    poll: {interval: 1, limit: 3}\n    expect:\n      json:\n        - {path: data.available, equals: 5}\n",
            file: "p.yaml").first)
        let result = await runner.run(never, simulator: true)
        guard case .failed(let failure) = result.outcome else { Issue.record("poll did not fail"); return }
        #expect(failure.message.contains("still failing after 3 tries"))
        #expect(result.log.isEmpty == false)
        let slow = try #require(try ScenarioParser.parse(
            "name: t\nsteps:\n  - token: {}\n  - session: {}\n  - message: make a video\n    timeout: 0.001\n", file: "t.yaml").first)
        let timedOut = await runner.run(slow, simulator: true)
        guard case .failed(let late) = timedOut.outcome else { Issue.record("timeout did not fail"); return }
        #expect(late.actual.contains("timeout"))
        #expect(parseError("name: x\nsteps:\n  - credits: {}\n    poll: {interval: 1}\n")?.line == 4)
        await server.stop()
    }

    @Test("Captures feed later steps; simulator-only scenarios are skipped elsewhere")
    func capturesAndSkips() async throws {
        let server = try await start()
        let runner = runner(server)
        let yaml = """
            name: capture
            steps:
              - token: {}
                capture: {user: data.user_id}
              - session: {}
                expect:
                  json:
                    - {path: data.user_id, equals: "${user}"}
              - advance_clock: 10
            """
        let scenario = try #require(try ScenarioParser.parse(yaml, file: "c.yaml").first)
        #expect(await runner.run(scenario, simulator: true).outcome == .passed)
        let skipped = await runner.run(scenario, simulator: false)
        guard case .skipped(let reason) = skipped.outcome else { Issue.record("not skipped"); return }
        #expect(reason.contains("admin API"))
        await server.stop()
    }

    @Test("A run's JUnit report validates against the schema")
    func junitFromRun() async throws {
        let server = try await start()
        let scenarios = try ScenarioParser.load(file: fixtures.appendingPathComponent("scenarios/tokens.yaml").path)
        var results: [ScenarioResult] = []
        for scenario in scenarios { results.append(await runner(server).run(scenario, simulator: true)) }
        await server.stop()
        let run = RunResult(target: "embedded", seed: 1, timeScale: 1000, toolVersion: "test", startedAt: "now",
            files: [ScenarioFileResult(file: "Fixtures/scenarios/tokens.yaml", scenarios: results)])
        #expect(run.failed == 0 && run.passed == scenarios.count)
        try JUnitReport.validate(try JUnitReport.xml(for: run), schema: fixtures.appendingPathComponent("schemas/junit-10.xsd"))
    }
}

@Suite("Scenarios and profiles")
struct ScenarioProfileTests {
    @Test("profiles: names shipped profiles; anything else is an error at its line")
    func parsing() throws {
        let scenario = try #require(try ScenarioParser.parse("name: x\nprofiles: [strict, skill]\nsteps:\n  - token: {}\n", file: "p.yaml").first)
        #expect(scenario.profiles == ["strict", "skill"])
        #expect(try ScenarioParser.parse("name: x\nsteps:\n  - token: {}\n", file: "p.yaml").first?.profiles == nil)
        let unknown = parseError("name: x\nprofiles: [strict, forgiving]\nsteps:\n  - token: {}\n")
        #expect(unknown?.line == 2 && unknown?.message.contains("no shipped profile \"forgiving\"") == true, "\(String(describing: unknown))")
        #expect(parseError("name: x\nprofiles: []\nsteps:\n  - token: {}\n")?.line == 2)
        #expect(parseError("name: x\nsteps:\n  - credits: {}\n    repeat: 1000000\n")?.message.contains("1 to 10000") == true)
    }

    @Test("A scenario pinned to other profiles is skipped, saying which; production is taken to follow strict")
    func skipping() async throws {
        let runner = ScenarioRunner(baseURL: "http://127.0.0.1:9", transport: CurlTransport(), fixturesDirectory: fixtures)
        let pinned = try #require(try ScenarioParser.parse("name: x\nprofiles: [lenient]\nsteps:\n  - token: {}\n", file: "p.yaml").first)
        let onSkill = await runner.run(pinned, on: .init(simulator: true, profileBase: "skill"))
        #expect(onSkill.outcome == .skipped("pins the reading of lenient; the simulator runs skill"))
        let onProduction = await runner.run(pinned, on: .init(simulator: false, profileBase: nil))
        #expect(onProduction.outcome == .skipped("pins the reading of lenient; the target is taken to follow strict"))
    }

    /// The scenarios that pin readings lenient does not take.
    func strictOnly() throws -> [ScenarioSuite.File] {
        try ScenarioSuite.load([fixtures.appendingPathComponent("scenarios").path]).compactMap { file in
            let pinned = file.scenarios.filter { $0.profiles.map { !$0.contains("lenient") } ?? false }
            return pinned.isEmpty ? nil : (file.path, pinned)
        }
    }

    @Test("Every scenario pinned to readings lenient does not take fails against lenient (what it lets through)")
    func failUnderLenient() async throws {
        let files = try strictOnly()
        let count = files.reduce(0) { $0 + $1.scenarios.count }
        #expect(count >= 10)
        var suite = ScenarioSuite(target: .embedded(profile: try BehaviourProfile.shipped("lenient")), fixturesDirectory: fixtures)
        suite.honoursProfiles = false
        let run = try await suite.run(files)
        let passed = run.result.scenarios.filter { $0.outcome == .passed }.map(\.name)
        #expect(passed.isEmpty, "passed under lenient: \(passed)")
        #expect(run.result.failed + run.result.errors == count)
        // The same scenarios pass under strict.
        let strict = try await ScenarioSuite(target: .embedded(), fixturesDirectory: fixtures).run(files)
        #expect(strict.result.failed + strict.result.errors == 0, "\(strict.result.scenarios.filter { $0.outcome != .passed })")
    }

    @Test("A run under several profiles reports a JUnit suite per profile, valid against the schema")
    func junitPerProfile() throws {
        let passed = ScenarioResult(name: "a", tags: [], outcome: .passed, duration: 0.1)
        let skipped = ScenarioResult(name: "b", tags: [], outcome: .skipped("pins the reading of skill; the simulator runs strict"), duration: 0)
        let run = RunResult(
            target: "embedded", seed: 1, timeScale: 1000, toolVersion: "test", startedAt: "now",
            files: [
                ScenarioFileResult(file: "Fixtures/scenarios/a.yaml", profile: "strict", scenarios: [passed, skipped]),
                ScenarioFileResult(file: "Fixtures/scenarios/b.yaml", profile: "strict", scenarios: [passed]),
                ScenarioFileResult(file: "Fixtures/scenarios/a.yaml", profile: "skill", scenarios: [passed, passed]),
            ])
        let xml = try JUnitReport.xml(for: run)
        try JUnitReport.validate(xml, schema: fixtures.appendingPathComponent("schemas/junit-10.xsd"))
        let text = String(decoding: xml, as: UTF8.self)
        #expect(text.components(separatedBy: "<testsuite ").count - 1 == 2)
        #expect(text.contains(#"<testsuite name="strict" tests="3" failures="0" errors="0" skipped="1""#))
        #expect(text.contains(#"classname="skill.Fixtures.scenarios.a""#) && text.contains(#"<property name="profile" value="skill"/>"#))
    }
}

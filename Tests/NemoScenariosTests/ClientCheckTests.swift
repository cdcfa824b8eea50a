import Foundation
import NemoCore
import NemoSimulator
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import NemoScenarios

/// `check-client`'s grading on made-up journals (each rule passes, fails
/// with its evidence, or is not exercised), and the command runner. The
/// fixture clients (one per broken rule) run in scripts/test.
@Suite("Client rules")
struct ClientCheckTests {
    static let attribution = ["x-skill-source": "s", "x-skill-version": "1", "x-skill-platform": "p"]

    /// A journal entry: `at` simulated seconds, `ends` when it ended.
    static func entry(
        _ seq: Int, _ method: String, _ path: String, at: Double, ends: Double? = nil, code: Int? = 0, status: Int = 200, token: String? = "Bearer nmv_usr_REDACTED-a",
        clientID: String? = nil, text: String? = nil, session: String? = "s1", stream: String? = nil, operationEnds: Double? = nil,
        query: String? = nil, missing: [String] = []
    ) -> JournalEntry {
        var headers = attribution
        if let token { headers["authorization"] = token }
        if let clientID { headers["x-client-id"] = clientID }
        let body = text.map { text -> JournalEntry.Body in
            let json: JSONValue = ["session_id": .string(session ?? ""), "new_message": ["parts": [["text": .string(text)]]]]
            return JournalEntry.Body(size: 10, truncated: false, text: json.jsonString(), json: json, parts: nil)
        }
        return JournalEntry(
            seq: seq, time: "", simulatedSeconds: at, simulatedEndSeconds: ends ?? at, wallTime: String(format: "%08d", seq), remote: nil,
            method: method, path: path, query: query, headers: headers, body: body, status: status, code: code, durationMs: 1,
            stream: stream.map { JournalEntry.Stream(ended: $0, events: 3) }, operationEndsSeconds: operationEnds, account: "anon_1",
            session: session, missingAttribution: missing, fault: nil)
    }

    static func verdicts(_ entries: [JournalEntry]) -> [String: ClientRules.Result] {
        Dictionary(uniqueKeysWithValues: ClientRules.grade(entries).map { ($0.rule, $0) })
    }

    static let token = "/api/auth/anonymous-token"
    static let state = "/api/state/nemo_agent/me/s1/latest"

    @Test("An empty journal exercises nothing; each verdict names the challenge that would")
    func nothing() {
        for result in ClientRules.grade([]) {
            #expect(result.verdict == .notExercised, "\(result.rule)")
            #expect(result.detail.hasPrefix("not exercised: needs "))
        }
        #expect(Set(ClientRules.all.map(\.id)).count == ClientRules.all.count)
    }

    @Test("429: a retry after 30 s passes, one after 5 s fails with both entries as evidence")
    func rateLimit() {
        let patient = Self.verdicts([
            Self.entry(1, "POST", Self.token, at: 0, code: 429, status: 429, token: nil, clientID: "c"),
            Self.entry(2, "POST", Self.token, at: 31, token: nil, clientID: "c"),
        ])
        #expect(patient["wait-after-429"]?.verdict == .passed)
        let hasty = Self.verdicts([
            Self.entry(1, "POST", Self.token, at: 0, code: 429, status: 429, token: nil, clientID: "c"),
            Self.entry(2, "POST", Self.token, at: 5, token: nil, clientID: "c"),
        ])
        #expect(hasty["wait-after-429"]?.verdict == .failed)
        #expect(hasty["wait-after-429"]?.evidence == [1, 2])
        #expect(hasty["client-id"]?.verdict == .passed)
    }

    @Test("A dropped stream: polling at 30 s then every 60 s passes; too early, too close or too many fails; queries after the work ended are free")
    func droppedStream() {
        func grade(_ times: [Double]) -> ClientRules.Result? {
            var entries = [Self.entry(1, "POST", "/run_sse", at: 100, ends: 101, code: nil, text: "add a title", stream: "fault", operationEnds: 1000)]
            for (index, time) in times.enumerated() { entries.append(Self.entry(index + 2, "GET", Self.state, at: time)) }
            return Self.verdicts(entries)["dropped-stream"]
        }
        #expect(grade([131, 191, 251]).map(\.verdict) == .passed)
        #expect(grade([110]).map(\.verdict) == .failed)
        #expect(grade([131, 150]).map(\.verdict) == .failed)
        #expect(grade([131, 191, 251, 311, 371, 431]).map(\.verdict) == .failed)
        #expect(grade([]).map(\.verdict) == .failed)
        // After the work ended (1000 s), the client may look as it likes.
        #expect(grade([131, 191, 1001, 1002, 1003, 1004, 1005]).map(\.verdict) == .passed)
    }

    @Test("Re-sending a message while its operation runs fails; the same text after it ended, or another text, passes")
    func resend() {
        let first = Self.entry(1, "POST", "/run_sse", at: 10, ends: 200, code: nil, text: "make a video", stream: "server", operationEnds: 300)
        #expect(Self.verdicts([first, Self.entry(2, "POST", "/run_sse", at: 100, code: nil, text: "make a video")])["no-resend-while-running"]?.verdict == .failed)
        #expect(Self.verdicts([first, Self.entry(2, "POST", "/run_sse", at: 301, code: nil, text: "make a video")])["no-resend-while-running"]?.verdict == .passed)
        #expect(Self.verdicts([first, Self.entry(2, "POST", "/run_sse", at: 100, code: nil, text: "add a title")])["no-resend-while-running"]?.verdict == .passed)
    }

    @Test("1001: a new token, then the call again with it; not asking, or repeating with the old token, fails")
    func tokenRefresh() {
        let failed = Self.entry(1, "GET", "/api/credits/balance/simple", at: 0, code: 1001)
        let issue = Self.entry(2, "POST", Self.token, at: 1, token: nil, clientID: "c")
        let good = Self.entry(3, "GET", "/api/credits/balance/simple", at: 2, token: "Bearer nmv_usr_REDACTED-b")
        let stale = Self.entry(3, "GET", "/api/credits/balance/simple", at: 2)
        #expect(Self.verdicts([failed, issue, good])["token-refresh-1001"]?.verdict == .passed)
        #expect(Self.verdicts([failed, issue, stale])["token-refresh-1001"]?.verdict == .failed)
        #expect(Self.verdicts([failed, good])["token-refresh-1001"]?.verdict == .failed)
        // A 1001 for missing attribution is the attribution rule's, not this one's.
        let unattributed = Self.entry(1, "GET", "/api/credits/balance/simple", at: 0, code: 1001, missing: ["X-Skill-Source"])
        let verdicts = Self.verdicts([unattributed])
        #expect(verdicts["token-refresh-1001"]?.verdict == .notExercised)
        #expect(verdicts["attribution-headers"]?.verdict == .failed)
    }

    @Test("Headers, client ids, export, tokens in URLs, silent closes, 2001 and cut streams each fail on their own evidence")
    func others() {
        let two = Self.verdicts([
            Self.entry(1, "POST", Self.token, at: 0, token: nil, clientID: "a"),
            Self.entry(2, "POST", Self.token, at: 5, token: nil, clientID: "b"),
            Self.entry(3, "GET", "/api/credits/balance/simple", at: 6, token: nil),
            Self.entry(4, "POST", "/run_sse", at: 7, code: nil, text: "please Export it", stream: "silent", operationEnds: 20),
            Self.entry(5, "POST", "/run_sse", at: 30, code: 2001, text: "make a video"),
            Self.entry(6, "POST", "/run_sse", at: 31, code: 2001, text: "make a video"),
            Self.entry(7, "GET", Self.state, at: 40, query: "access_token=nmv_usr_REDACTED-a"),
            Self.entry(8, "POST", "/run_sse", at: 50, ends: 100, code: nil, text: "a long one", stream: "client", operationEnds: 400),
        ])
        #expect(two["client-id"]?.verdict == .failed && two["client-id"]?.evidence == [1, 2])
        #expect(two["bearer-token"]?.verdict == .failed && two["bearer-token"]?.evidence == [3])
        #expect(two["no-export-message"]?.verdict == .failed && two["no-export-message"]?.evidence == [4])
        #expect(two["state-after-silent-close"]?.verdict == .failed)
        #expect(two["no-retry-2001"]?.verdict == .failed && two["no-retry-2001"]?.evidence == [5, 6])
        #expect(two["no-token-in-url"]?.verdict == .failed && two["no-token-in-url"]?.evidence == [7])
        #expect(two["stream-timeout"]?.verdict == .failed && two["stream-timeout"]?.evidence == [8])
        #expect(two["attribution-headers"]?.verdict == .passed)
    }

    @Test("Renders: a reused id, no retry or two after a failure, polls too close or too many, and no fallback after a failed URL each fail")
    func renders() {
        func submit(_ seq: Int, at: Double, id: String) -> JournalEntry {
            var entry = Self.entry(seq, "POST", "/api/render/proxy/lambda", at: at)
            let json: JSONValue = ["id": .string(id), "sessionId": "s1"]
            entry.body = JournalEntry.Body(size: 10, truncated: false, text: json.jsonString(), json: json, parts: nil)
            entry.render = .init(id: id, status: "pending")
            return entry
        }
        func poll(_ seq: Int, at: Double, id: String, status: String) -> JournalEntry {
            var entry = Self.entry(seq, "GET", "/api/render/proxy/lambda/\(id)", at: at)
            entry.render = .init(id: id, status: status)
            return entry
        }
        let good = [
            submit(1, at: 0, id: "r1"), poll(2, at: 30, id: "r1", status: "failed"),
            submit(3, at: 31, id: "r2"), poll(4, at: 61, id: "r2", status: "processing"), poll(5, at: 91, id: "r2", status: "completed"),
        ]
        var verdicts = Self.verdicts(good)
        for rule in ["render-fresh-id", "render-retry-once", "render-poll-pace"] { #expect(verdicts[rule]?.verdict == .passed, "\(rule)") }
        #expect(verdicts["download-fallback"]?.verdict == .notExercised)

        verdicts = Self.verdicts([submit(1, at: 0, id: "r1"), poll(2, at: 30, id: "r1", status: "failed"), submit(3, at: 31, id: "r1")])
        #expect(verdicts["render-fresh-id"]?.verdict == .failed && verdicts["render-fresh-id"]?.evidence == [1, 3])
        verdicts = Self.verdicts([submit(1, at: 0, id: "r1"), poll(2, at: 30, id: "r1", status: "failed")])
        #expect(verdicts["render-retry-once"]?.verdict == .failed)
        verdicts = Self.verdicts([submit(1, at: 0, id: "r1"), poll(2, at: 30, id: "r1", status: "failed"), submit(3, at: 31, id: "r2"), submit(4, at: 32, id: "r3")])
        #expect(verdicts["render-retry-once"]?.verdict == .failed)
        verdicts = Self.verdicts([submit(1, at: 0, id: "r1"), poll(2, at: 30, id: "r1", status: "processing"), poll(3, at: 35, id: "r1", status: "completed")])
        #expect(verdicts["render-poll-pace"]?.verdict == .failed && verdicts["render-poll-pace"]?.evidence == [2, 3])
        let many = [submit(1, at: 0, id: "r1")] + (0..<11).map { poll($0 + 2, at: Double(30 * ($0 + 1)), id: "r1", status: "processing") }
        #expect(Self.verdicts(many)["render-poll-pace"]?.verdict == .failed)
        #expect(ClientRules.grade(many, documented: .init(renderPollIntervalSeconds: 30, renderMaxPolls: 20)).first { $0.rule == "render-poll-pace" }?.verdict == .passed)

        var expired = Self.entry(9, "GET", "/_nemosim/media/renders/r2.mp4", at: 100, code: nil, status: 403, token: nil)
        expired.render = .init(id: "r2", status: nil)
        var fallback = Self.entry(10, "GET", "/api/render/proxy/r2/download", at: 101, code: nil)
        fallback.render = .init(id: "r2", status: nil)
        #expect(Self.verdicts(good + [expired, fallback])["download-fallback"]?.verdict == .passed)
        #expect(Self.verdicts(good + [expired])["download-fallback"]?.verdict == .failed)
    }

    @Test("1002: a new session and the old one left passes; using the old one again, or no new session, fails")
    func sessionGone() {
        let message = Self.entry(2, "POST", "/run_sse", at: 1, code: 1002, session: nil)
        let before = Self.entry(1, "GET", Self.state, at: 0)
        let created = Self.entry(3, "POST", "/api/tasks/me/with-session/nemo_agent", at: 2, session: "s2")
        let again = Self.entry(4, "POST", "/run_sse", at: 3, code: nil, text: "hi", session: "s2")
        #expect(Self.verdicts([before, message, created, again])["new-session-1002"]?.verdict == .passed)
        let reused = Self.entry(4, "POST", "/run_sse", at: 3, code: nil, text: "hi", session: "s1")
        #expect(Self.verdicts([before, message, created, reused])["new-session-1002"]?.evidence == [2, 4])
        #expect(Self.verdicts([before, message])["new-session-1002"]?.verdict == .failed)
    }

    @Test("A fault with skip lets that many matching requests through first")
    func faultSkip() throws {
        let board = FaultBoard()
        _ = try board.arm(FaultRule(match: .init(method: "POST", path: "/run_sse"), respond: .dropAfterEvents(2), times: 1, skip: 1))
        #expect(board.take(method: "GET", path: "/run_sse") == nil)
        #expect(board.take(method: "POST", path: "/run_sse") == nil)
        #expect(board.take(method: "POST", path: "/run_sse") == .dropAfterEvents(2))
        #expect(board.take(method: "POST", path: "/run_sse") == nil)
        let bad = Data(#"{"match": {"path": "/x"}, "respond": {"code": 1001}, "skip": -1}"#.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(FaultRule.self, from: bad) }
    }

    @Test("The command gets the simulator's address and no token or client id; a missing command is a launch error; one that runs too long is stopped")
    func runner() async throws {
        let environment = ClientCheck.environment(apiURL: "http://127.0.0.1:1", base: ["NEMO_TOKEN": "nmv_usr_x", "NEMO_CLIENT_ID": "c", "PATH": "/usr/bin:/bin"])
        #expect(environment["NEMO_API_URL"] == "http://127.0.0.1:1" && environment["NEMO_WEB_URL"] == "http://127.0.0.1:1")
        #expect(environment["NEMO_TOKEN"] == nil && environment["NEMO_CLIENT_ID"] == nil && environment["PATH"] == "/usr/bin:/bin")

        let (status, _) = try await ClientCheck.run(["sh", "-c", #"test "$NEMO_API_URL" = http://x && test -z "$NEMO_TOKEN""#],
            environment: ClientCheck.environment(apiURL: "http://x", base: ["NEMO_TOKEN": "t", "PATH": "/usr/bin:/bin"]), timeLimit: 30)
        #expect(status == 0)
        await #expect(throws: ClientCheck.LaunchError.self) {
            _ = try await ClientCheck.run(["no-such-command-nemosim"], environment: ["PATH": "/usr/bin:/bin"], timeLimit: 30)
        }
        // Stopped, not run to its end at 30 s (SIGTERM, and SIGKILL 2 s
        // later; a loaded machine may see the exit late).
        let (stopped, seconds) = try await ClientCheck.run(["sleep", "30"], environment: ["PATH": "/usr/bin:/bin"], timeLimit: 1)
        #expect(stopped == nil && seconds < 20, "\(seconds) s")

        // What the command started goes too (a script's background curl).
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("check-client-\(UUID().uuidString).pid").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        _ = try await ClientCheck.run(["sh", "-c", "sleep 30 & echo $! > \(pidFile); wait"], environment: ["PATH": "/usr/bin:/bin"], timeLimit: 1)
        let grandchild = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Gone, or a zombie waiting for a parent that does not reap (PID 1
        // here); the signal may take a moment to land on a loaded machine.
        var stat: String?
        var running = true
        for _ in 0..<100 where running {
            stat = try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)
            running = stat.map { text -> Bool in
                guard let close = text.lastIndex(of: ")") else { return false }
                return !text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
            } ?? false
            if running { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(!running, "the command's child outlived the time limit by 2 s: \(stat ?? "")")

        // A command's own exit status 127 is its status, not "not found".
        let (own, _) = try await ClientCheck.run(["sh", "-c", "exit 127"], environment: ["PATH": "/usr/bin:/bin"], timeLimit: 30)
        #expect(own == 127)
    }
}

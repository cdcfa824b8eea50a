import Foundation
import HTTPTypes
import NemoCore
import Testing

@testable import NemoSimulator

/// Journal version 2: what each entry holds, the query API, the bounds and
/// the redaction.
@Suite("Request journal")
struct JournalTests {
    static func record(_ path: String, method: String = "GET", status: Int = 200, session: String? = nil, headers: HTTPFields = [:]) -> RequestJournal.Record {
        let note = JournalNote()
        if let session { note.session(session) }
        return RequestJournal.Record(
            elapsed: 1, method: method, path: path, headers: headers, status: status, code: 0, durationMs: 1, missingAttribution: [], fault: nil,
            note: note)
    }

    @Test("The ring keeps the newest entries within its count and byte limits, counts what it dropped, and numbers entries in order")
    func bounds() {
        let clock = ManualSimulationClock()
        let journal = RequestJournal(capacity: 3, maximumBytes: 1 << 20)
        for index in 1...5 { journal.append(Self.record("/p/\(index)")) }
        var page = journal.page(clock: clock)
        #expect(page.entries.map(\.path) == ["/p/3", "/p/4", "/p/5"])
        #expect(page.entries.map(\.seq) == [3, 4, 5])
        #expect(page.dropped == 2 && page.kept == 3 && page.lastSeq == 5)

        // Bytes: entries of about 66 KiB of headers each, a budget of 200 KiB.
        let big = RequestJournal(capacity: 100, maximumBytes: 200 << 10)
        let value = String(repeating: "x", count: 66 << 10)
        for index in 1...6 { big.append(Self.record("/b/\(index)", headers: [HTTPField.Name("X-Big")!: value])) }
        page = big.page(clock: clock)
        #expect(page.entries.map(\.path) == ["/b/4", "/b/5", "/b/6"])
        #expect(page.dropped == 3)

        // Smaller limits drop the oldest at once; larger ones keep growing.
        journal.setLimits(capacity: 1, maximumBytes: 1 << 20)
        #expect(journal.page(clock: clock).entries.map(\.path) == ["/p/5"])
        journal.setLimits(capacity: 50, maximumBytes: 1 << 20)
        for index in 6...40 { journal.append(Self.record("/p/\(index)")) }
        page = journal.page(clock: clock)
        #expect(page.entries.count == 36 && page.entries.first?.path == "/p/5" && page.entries.last?.seq == 40)
        journal.clear()
        page = journal.page(clock: clock)
        #expect(page.entries.isEmpty && page.dropped == 0 && page.lastSeq == 40)
    }

    @Test("Queries filter by method, path pattern, session and status, page with since and limit, and count")
    func queries() throws {
        let clock = ManualSimulationClock()
        let journal = RequestJournal()
        journal.append(Self.record("/api/credits/balance/simple"))
        journal.append(Self.record("/run_sse", method: "POST", session: "s1"))
        journal.append(Self.record("/api/state/nemo_agent/me/s1/latest", session: "s1"))
        journal.append(Self.record("/api/state/nemo_agent/me/s2/latest", status: 404, session: "s2"))
        journal.append(Self.record("/run_sse", method: "POST", session: "s2"))

        func paths(_ query: JournalQuery) -> [String] { journal.page(query, clock: clock).entries.map(\.path) }
        #expect(paths(.init(method: "post")) == ["/run_sse", "/run_sse"])
        #expect(paths(.init(path: "/api/state/*/latest")) == ["/api/state/nemo_agent/me/s1/latest", "/api/state/nemo_agent/me/s2/latest"])
        #expect(paths(.init(path: "/api/state/*/s2/*")) == ["/api/state/nemo_agent/me/s2/latest"])
        #expect(paths(.init(path: "/run")).isEmpty)
        #expect(paths(.init(session: "s1")) == ["/run_sse", "/api/state/nemo_agent/me/s1/latest"])
        #expect(paths(.init(status: 404)) == ["/api/state/nemo_agent/me/s2/latest"])
        let first = journal.page(.init(limit: 2), clock: clock)
        #expect(first.entries.map(\.seq) == [1, 2] && first.more)
        let next = journal.page(.init(since: first.entries.last!.seq, limit: 2), clock: clock)
        #expect(next.entries.map(\.seq) == [3, 4] && next.more)
        #expect(journal.page(.init(since: 4, limit: 2), clock: clock).more == false)
        #expect(journal.count(.init(method: "POST", session: "s2")).count == 1)
        #expect(journal.count(.init(limit: 1)).count == 5)

        #expect(JournalQuery.glob("*", matches: ""))
        #expect(JournalQuery.glob("a*b*c", matches: "aXbYbZc"))
        #expect(!JournalQuery.glob("a*b*c", matches: "aXbYbZ"))
        #expect(!JournalQuery.glob("*" + String(repeating: "a*", count: 30) + "b", matches: String(repeating: "a", count: 5000)))
    }

    @Test("A bad query parameter is a 400 naming it: unknown names, and numbers out of range, huge, negative or not numbers")
    func badQueries() throws {
        #expect(throws: SimulatorFailure.self) { try JournalQuery(parameters: [("bogus", "1")]) }
        for bad in ["1e300", "-1e300", "NaN", "inf", "-1", "9223372036854775808", "1.5", "", "2000000"] {
            #expect(throws: SimulatorFailure.self, "limit=\(bad)") { try JournalQuery(parameters: [("limit", bad)]) }
        }
        for bad in ["1e300", "nan", "-5", "9223372036854775807"] {
            #expect(throws: SimulatorFailure.self, "since=\(bad)") { try JournalQuery(parameters: [("since", bad)]) }
        }
        do {
            _ = try JournalQuery(parameters: [("status", "abc")])
            Issue.record("status=abc was accepted")
        } catch {
            #expect("\(error)".contains("status must be a whole number from 0 to 999"))
        }
        let query = try JournalQuery(parameters: [("method", "GET"), ("limit", "10"), ("since", "3"), ("session", "s"), ("code", "1001")])
        #expect(query == JournalQuery(method: "GET", path: nil, since: 3, limit: 10, session: "s", code: 1001))
    }

    @Test("Secrets read back as placeholders that are stable for a seed, in headers, query strings, paths and JSON bodies")
    func redaction() {
        let clock = ManualSimulationClock()
        let journal = RequestJournal(seed: 7)
        let token = "nmv_usr_0123456789abcdefSECRET"
        let other = "nmv_usr_fedcba9876543210OTHER"
        let note = JournalNote()
        note.body(.init(string: #"{"token": "plain-secret-value", "text": "my token is \#(token)", "url": "https://cdn.example/v.mp4?sig=abc123&x=1"}"#))
        journal.append(RequestJournal.Record(
            elapsed: 0, method: "POST", path: "/api/x/\(token)", query: "access_token=\(other)&api_key=k-123&page=2",
            headers: [.authorization: "Bearer \(token)", HTTPField.Name("X-Client-Id")!: "client-1", .cookie: "a=b"], status: 200, code: 0,
            durationMs: 1, missingAttribution: [], fault: nil, note: note))
        journal.append(RequestJournal.Record(
            elapsed: 0, method: "GET", path: "/p", headers: [.authorization: "Bearer \(token)"], status: 200, code: 0, durationMs: 1,
            missingAttribution: [], fault: nil))
        let entries = journal.page(clock: clock).entries
        let text = String(decoding: try! JSONEncoder().encode(entries), as: UTF8.self)
        for secret in [token, other, "plain-secret-value", "client-1", "k-123", "abc123", "a=b"] {
            #expect(!text.contains(secret), "\(secret) is in the journal")
        }
        let placeholder = entries[0].headers["authorization"]
        #expect(placeholder?.hasPrefix("Bearer nmv_usr_REDACTED-") == true)
        #expect(entries[1].headers["authorization"] == placeholder, "the same token gave another placeholder")
        #expect(entries[0].path == "/api/x/" + placeholder!.dropFirst("Bearer ".count))
        #expect(entries[0].query?.hasSuffix("&page=2") == true)
        #expect(entries[0].body?.json?["text"]?.stringValue == "my token is " + placeholder!.dropFirst("Bearer ".count))
        #expect(entries[0].body?.json?["url"]?.stringValue?.hasSuffix("&x=1") == true)

        // Another seed, other placeholders; the same seed, the same ones.
        let again = RequestJournal(seed: 7)
        let elsewhere = RequestJournal(seed: 8)
        for journal in [again, elsewhere] {
            journal.append(RequestJournal.Record(
                elapsed: 0, method: "GET", path: "/p", headers: [.authorization: "Bearer \(token)"], status: 200, code: 0, durationMs: 1,
                missingAttribution: [], fault: nil))
        }
        #expect(again.page(clock: clock).entries[0].headers["authorization"] == placeholder)
        #expect(elsewhere.page(clock: clock).entries[0].headers["authorization"] != placeholder)
    }

    @Test("A token reads back as one placeholder wherever it is (header, query, body); camelCase keys and form bodies are redacted; clearing keeps numbering")
    func redactionEverywhere() {
        let clock = ManualSimulationClock()
        let journal = RequestJournal(seed: 9)
        let token = "nmv_usr_aaaaaaaaaaaaaaaaSECRET"
        let note = JournalNote()
        note.body(.init(string: #"{"accessToken": "camel-secret", "clientSecret": "other-secret", "note": "ok"}"#))
        journal.append(RequestJournal.Record(
            elapsed: 0, method: "GET", path: "/p", query: "token=\(token)", headers: [.authorization: "Bearer \(token)"], status: 200, code: 0,
            durationMs: 1, missingAttribution: [], fault: nil, note: note))
        let form = JournalNote()
        form.body(.init(string: "user=me&password=hunter2&api_key=k-1"))
        journal.append(RequestJournal.Record(elapsed: 0, method: "POST", path: "/f", status: 200, code: 0, durationMs: 1, missingAttribution: [], fault: nil, note: form))
        let entries = journal.page(clock: clock).entries
        let placeholder = String(entries[0].headers["authorization"]!.dropFirst("Bearer ".count))
        #expect(entries[0].query == "token=" + placeholder, "\(entries[0].query ?? "")")
        let text = String(decoding: try! JSONEncoder().encode(entries), as: UTF8.self)
        for secret in ["camel-secret", "other-secret", "hunter2", "k-1", token] { #expect(!text.contains(secret), "\(secret)") }
        #expect(entries[0].body?.json?["note"]?.stringValue == "ok" && entries[1].body?.text?.hasPrefix("user=me&password=") == true)

        journal.clear()
        journal.append(Self.record("/after"))
        #expect(journal.page(clock: clock).entries.map(\.seq) == [3])
    }

    @Test("Through the front: the account and session acted on, the body, multipart parts with their SHA-256, and how streams ended")
    func throughTheFront() async throws {
        let client = try RouterClient {
            $0.silentGenerationRatio = 0
            $0.initialCredits = 10_000
            $0.silentCloseRatio = 1
        }
        let (token, user, session) = try await client.signIn(client: "journal-client")
        _ = try await client.send("make a 30-second promo video", session: session, token: token)
        try await client.simulation.advanceClock(by: 400)
        // Edits close silently under this profile.
        _ = try await client.send("add a title that says Hello", session: session, token: token)
        try await client.simulation.advanceClock(by: 400)
        _ = try await client.send("make a video", session: session, token: token, headers: ["X-Nemosim-Fault": #"{"drop_after_events": 1}"#])
        let gif = Data([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0])
        _ = try await client.request(
            .post, "/api/upload-video/nemo_agent/me/\(session)", headers: RouterClient.auth(token),
            multipart: [.data(name: "files", filename: "one.gif", bytes: gif, contentType: "image/gif")])
        _ = try await client.get("/api/state/nemo_agent/me/9999999999999999999/latest", token: token)
        // Refused before the domain looks at the session: the path still names it.
        _ = try await client.get("/api/state/nemo_agent/me/1234567890123456789/latest", token: "nmv_usr_not-a-token-at-all")

        var entries = client.simulation.journal.page(clock: client.clock).entries
        let refused = entries.removeLast()
        #expect(refused.code == 1001 && refused.session == "1234567890123456789")
        let issue = try #require(entries.first { $0.path == "/api/auth/anonymous-token" })
        #expect(issue.headers["x-client-id"]?.hasPrefix("REDACTED-") == true)
        let created = try #require(entries.first { $0.path.hasPrefix("/api/tasks/") })
        #expect(created.account == user && created.session == session)
        #expect(created.body?.json?["task_name"]?.stringValue == "project")

        let streams = entries.filter { $0.path == "/run_sse" }
        #expect(streams.map { $0.stream?.ended } == ["server", "silent", "fault"], "\(streams.map { ($0.status, $0.code, $0.body?.text ?? "") })")
        #expect(streams[0].stream!.events > 2 && streams[2].stream?.events == 1)
        #expect(streams.allSatisfy { $0.session == session && $0.account == user })
        #expect(streams[0].body?.json?["new_message"]?["parts"]?[0]?["text"]?.stringValue == "make a 30-second promo video")

        let upload = try #require(entries.first { $0.path.hasPrefix("/api/upload-video/") })
        let part = try #require(upload.body?.parts?.first)
        #expect(part.name == "files" && part.filename == "one.gif" && part.size == gif.count)
        #expect(part.sha256 == SHA256Hex.of(gif))

        let missing = try #require(entries.last)
        #expect(missing.code == ErrorCode.sessionNotFound.rawValue && missing.session == "9999999999999999999" && missing.account == user)
        #expect(entries.map(\.seq) == Array(1...entries.count))
    }

    @Test("A client that goes away mid-stream is journaled as such")
    func clientGoesAway() async throws {
        let live = try await LiveSession.start { $0.heartbeatIntervalSeconds = 1 }
        defer { Task { await live.server.stop() } }
        // A stream that takes an hour, cut by the client after 2 s.
        _ = try live.server.simulation.patchProfile(["generation_duration_seconds": [3600, 3600]])
        let message: JSONValue = ["app_name": "nemo_agent", "user_id": "me", "session_id": .string(live.session), "new_message": ["parts": [["text": "make a video"]]]]
        _ = await CurlTestClient.request(
            "POST", live.url + "/run_sse", headers: live.auth.merging(["Accept": "text/event-stream", "Content-Type": "application/json"]) { a, _ in a },
            body: Data(message.jsonString().utf8), timeout: 2)
        var stream: JournalEntry?
        for _ in 0..<200 {
            stream = live.server.journal(.init(path: "/run_sse")).entries.first
            if stream != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(stream?.stream?.ended == "client")
        #expect(stream?.remote?.hasPrefix("127.0.0.1:") == true)
    }

    @Test("Over HTTP: query parameters, count, delete, and the event loop's answers journaled with their headers and account")
    func overHTTP() async throws {
        let live = try await LiveSession.start()
        defer { Task { await live.server.stop() } }
        let before = live.server.eventLoopAnswerCount
        _ = await live.get("/api/credits/balance/simple")
        #expect(live.server.eventLoopAnswerCount == before + 1)
        let page = await live.admin("GET", "/journal?path=/api/credits/*&limit=5")
        #expect(page.status == 200)
        let credits = try #require(page.json["entries"]?[0])
        #expect(credits["account"]?.stringValue == live.user)
        #expect(credits["headers"]?["authorization"]?.stringValue?.hasPrefix("Bearer nmv_usr_REDACTED-") == true)
        #expect(credits["remote"]?.stringValue?.hasPrefix("127.0.0.1:") == true)
        #expect(page.json["version"]?.intValue == 2)
        #expect(!page.text.contains(live.token))
        let count = await live.admin("GET", "/journal/count?method=POST")
        #expect(count.json["count"]?.intValue == 2)  // the token and the session
        let bad = await live.admin("GET", "/journal?limit=1e300")
        #expect(bad.status == 400 && bad.text.contains("limit must be a whole number"))
        _ = await live.admin("DELETE", "/journal")
        #expect(live.server.journalCount() == 0)
    }

    @Test("The render_fails fault: the job is accepted, then fails; render calls are journaled with the job and its status")
    func renderFails() async throws {
        let client = try RouterClient()
        let (token, _, session) = try await client.signIn()
        let draft: JSONValue = ["t": [["tt": 0, "sg": [["s": 0, "d": 1000]]]]]
        let submitted = try await client.post(
            "/api/render/proxy/lambda", ["id": "r-fails", "sessionId": .string(session), "draft": draft], token: token,
            headers: ["X-Nemosim-Fault": #"{"render_fails": true}"#])
        #expect(submitted.status == 200 && submitted.json["success"]?.boolValue != false, "\(submitted.text)")
        try await client.simulation.advanceClock(by: 600)
        let status = try await client.get("/api/render/proxy/lambda/r-fails", token: token)
        #expect(status.text.contains("failed"), "\(status.text)")
        let renders = client.simulation.journal.page(.init(path: "/api/render/*"), clock: client.clock).entries
        #expect(renders.map { $0.render?.id } == ["r-fails", "r-fails"])
        #expect(renders.first?.fault == "render fails" && renders.last?.render?.status == "failed")
        #expect(throws: (any Error).self) { try JSONDecoder().decode(FaultResponse.self, from: Data(#"{"render_fails": false}"#.utf8)) }
    }

    @Test("The journal's limits are profile keys, range-checked")
    func profileKeys() throws {
        let simulation = Simulation(clock: ManualSimulationClock())
        _ = try simulation.patchProfile(["journal_entries": 2])
        for index in 1...4 { simulation.journal.append(Self.record("/p/\(index)")) }
        #expect(simulation.journal.page(clock: simulation.clock).entries.map(\.path) == ["/p/3", "/p/4"])
        for bad: JSONValue in [0, 2_000_000, 1e300, -1] {
            #expect(throws: (any Error).self) { try simulation.patchProfile(["journal_entries": bad]) }
        }
        #expect(throws: (any Error).self) { try simulation.patchProfile(["journal_bytes": 10]) }
    }
}

import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// What an adversarial pass found in the simulator's inputs: numbers that
/// killed it, fault statuses that broke framing, tables a client could
/// grow, YAML that expanded to gigabytes, the admin token compared in
/// variable time.
@Suite("Simulator hardening")
struct SimulatorHardeningTests {
    @Test("clock/advance refuses NaN, negatives and anything past the clock's range; a render after the biggest jump still answers")
    func clockAdvance() async throws {
        let client = try RouterClient()
        for seconds in [-1, 1e17, 1e300] {
            let answer = try await client.admin(.post, "/clock/advance", ["seconds": .number(seconds)], headers: ["Content-Type": "application/json"])
            #expect(answer.status == 400, "\(seconds): \(answer.text)")
        }
        let nan = try await client.request(.post, "/_nemosim/clock/advance", headers: ["Content-Type": "application/json"], body: Data(#"{"seconds": NaN}"#.utf8))
        #expect(nan.status == 400)
        let (token, _, session) = try await client.signIn()
        let allowed = try await client.admin(
            .post, "/clock/advance", ["seconds": .number(CheckedNumber.maximumSimulatedSeconds - 10_000)], headers: ["Content-Type": "application/json"])
        #expect(allowed.status == 200, "\(allowed.text)")
        // The simulation still answers (the session expired; the token may have): no trap.
        let state = try await client.get("/api/state/nemo_agent/me/\(session)/latest", token: token)
        #expect(state.status == 200 && state.code != nil)
        let more = try await client.admin(.post, "/clock/advance", ["seconds": .number(20_000)], headers: ["Content-Type": "application/json"])
        #expect(more.status == 400 && more.text.contains("at most"))
    }

    @Test("A fault's http_status must carry the JSON body: 1xx, 204, 205 and 304 are refused, from the admin API and the header")
    func faultStatuses() async throws {
        let client = try RouterClient()
        let (token, _, _) = try await client.signIn()
        for status in [100, 101, 199, 204, 205, 304, 600] {
            let armed = try await client.admin(
                .post, "/faults", ["respond": ["http_status": .number(Double(status))]], headers: ["Content-Type": "application/json"])
            #expect(armed.status == 400, "http_status \(status) was armed")
            let header = try await client.get("/api/credits/balance/simple", token: token, headers: ["X-Nemosim-Fault": #"{"http_status": \#(status)}"#])
            #expect(header.status == 400 && header.text.contains("http_status must be 200-599"), "\(status): \(header.text)")
        }
        let fine = try await client.get("/api/credits/balance/simple", token: token, headers: ["X-Nemosim-Fault": #"{"http_status": 503}"#])
        #expect(fine.status == 503 && fine.code != nil)
    }

    @Test("At most 1000 faults are armed at once")
    func faultTable() throws {
        let board = FaultBoard()
        for _ in 0..<FaultBoard.maximumArmed { try board.arm(FaultRule(match: .init(), respond: .code(1001))) }
        #expect(throws: SimulatorFailure.self) { try board.arm(FaultRule(match: .init(), respond: .code(1001))) }
        board.clear()
        #expect(try board.arm(FaultRule(match: .init(), respond: .code(1001))).id > 0)
    }

    @Test("A profile that is a YAML billion laughs, or has an alias as a key, is refused")
    func profileBomb() throws {
        var lines = [#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        let names = "abcdefghij".map(String.init)
        for (previous, name) in zip(names, names.dropFirst()) {
            lines.append("\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]")
        }
        let bomb = lines.joined(separator: "\n")
        #expect(throws: ProfileError.self) { try BehaviourProfile.parse(Data(bomb.utf8), source: "bomb.yaml") }
        #expect(throws: ProfileError.self) { try BehaviourProfile.parse(Data((bomb + "\n? *c\n: 1\n").utf8), source: "keys.yaml") }
        let fine = "heartbeat_interval_seconds: &x 7\nrender_queue_seconds: *x\n"
        let profile = try BehaviourProfile.parse(Data(fine.utf8), source: "fine.yaml").0
        #expect(profile.heartbeatIntervalSeconds == 7 && profile.renderQueueSeconds == 7)
    }

    @Test("The admin token is compared on bytes: a Unicode-equivalent form is refused")
    func adminToken() async throws {
        #expect(AdminGuard.sameSecret("s3cret-\u{E9}", "s3cret-\u{E9}"))
        #expect(!AdminGuard.sameSecret("s3cret-e\u{301}", "s3cret-\u{E9}"), "canonically equivalent, different bytes")
        #expect(!AdminGuard.sameSecret(nil, "s3cret"))
        #expect(!AdminGuard.sameSecret("s3cre", "s3cret"))
        let guarded = try RouterClient(adminToken: "s3cret-\u{E9}")
        let refused = try await guarded.admin(.get, "/faults", headers: ["Authorization": "Bearer s3cret-e\u{301}"])
        #expect(refused.status == 401)
        let accepted = try await guarded.admin(.get, "/faults", headers: ["Authorization": "Bearer s3cret-\u{E9}"])
        #expect(accepted.status == 200)
    }

    @Test("The journal keeps at most 2 KiB of a path, with a marker: its memory is bounded by its entries")
    func journalBytes() throws {
        let journal = RequestJournal(capacity: 3)
        let long = "/x/" + String(repeating: "é", count: 30_000)
        for _ in 0..<5 {
            journal.append(.init(elapsed: 0, method: String(repeating: "M", count: 100), path: long, status: 404, code: nil, durationMs: 1, missingAttribution: [], fault: nil))
        }
        let entries = journal.entries(clock: ManualSimulationClock())
        #expect(entries.count == 3)
        for entry in entries {
            #expect(entry.path.utf8.count < RequestJournal.maximumPathBytes + 40 && entry.path.hasSuffix("more bytes]"), "\(entry.path.utf8.count)")
            #expect(entry.method.utf8.count < 80)
        }
    }
}

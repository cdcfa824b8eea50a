import Foundation
import NemoCore
import NemoReports
import NemoSimulator

/// The rules the vendor's texts give clients, graded on a simulator's
/// journal (``JournalEntry``): what a client sent, when (simulated time),
/// and what it got. Each rule is passed, failed or not exercised (the
/// situation it is about never arose), with the entries that decided it.
public enum ClientRules {
    /// A rule's verdict.
    public enum Verdict: String, Sendable, Hashable, Codable {
        case passed, failed
        case notExercised = "not_exercised"
    }

    /// One rule: what it asks, where the vendor says so, and which part of
    /// the challenge plan makes it arise.
    public struct Rule: Sendable {
        public let id: String
        public let title: String
        /// The vendor text and section.
        public let source: String
        /// What makes the situation arise (for "not exercised").
        public let challenge: String
        let grade: @Sendable (Timeline) -> Grade
    }

    /// A graded rule.
    public struct Result: Sendable, Hashable, Codable {
        public var rule: String
        public var title: String
        public var source: String
        public var verdict: Verdict
        /// Why: the failure, or what was seen, or the challenge that would make it arise.
        public var detail: String
        /// The journal entries (their `seq`) that decided it.
        public var evidence: [Int]
    }

    struct Grade {
        var verdict: Verdict
        var detail: String
        var evidence: [Int]

        static func passed(_ detail: String, _ evidence: [JournalEntry] = []) -> Grade { .init(verdict: .passed, detail: detail, evidence: evidence.map(\.seq)) }
        static func failed(_ detail: String, _ evidence: [JournalEntry]) -> Grade { .init(verdict: .failed, detail: detail, evidence: evidence.map(\.seq)) }
        static let notExercised = Grade(verdict: .notExercised, detail: "", evidence: [])
    }

    /// What the server documented for the client, where rules depend on it.
    public struct Documented: Sendable, Hashable {
        /// Render status polls at most this often (simulated seconds)...
        public var renderPollIntervalSeconds: Double
        /// ...and at most this many per job.
        public var renderMaxPolls: Int

        public init(renderPollIntervalSeconds: Double = 30, renderMaxPolls: Int = 10) {
            self.renderPollIntervalSeconds = renderPollIntervalSeconds
            self.renderMaxPolls = renderMaxPolls
        }

        /// The values of a profile.
        public init(_ profile: BehaviourProfile) {
            self.init(renderPollIntervalSeconds: profile.renderPollIntervalSeconds, renderMaxPolls: profile.renderMaxPolls)
        }
    }

    /// The journal in arrival order, with each entry's route.
    struct Timeline {
        let entries: [JournalEntry]
        let routes: [Int: String]
        var documented = Documented()

        init(_ entries: [JournalEntry]) {
            self.entries = entries.sorted { ($0.simulatedSeconds, $0.wallTime, $0.seq) < ($1.simulatedSeconds, $1.wallTime, $1.seq) }
            var routes: [Int: String] = [:]
            for entry in entries { routes[entry.seq] = Route.resolve(method: entry.method, path: entry.path)?.route.name }
            self.routes = routes
        }

        func route(_ entry: JournalEntry) -> String? { routes[entry.seq] }
        func calls(_ name: String) -> [JournalEntry] { entries.filter { routes[$0.seq] == name } }
        /// The entries that arrived after `entry`.
        func after(_ entry: JournalEntry) -> ArraySlice<JournalEntry> {
            guard let index = entries.firstIndex(where: { $0.seq == entry.seq }) else { return [] }
            return entries[(index + 1)...]
        }
        /// The state queries on a stream's session once it ended and before
        /// the session's next message, and that message (nil: none came).
        func stateQueries(after stream: JournalEntry) -> (queries: [JournalEntry], next: JournalEntry?) {
            let later = after(stream).filter { $0.simulatedSeconds >= stream.simulatedEndSeconds && $0.session == stream.session }
            let next = later.first { route($0) == "run_sse" }
            return (later.prefix { $0.seq != next?.seq }.filter { route($0) == "state" }, next)
        }
        /// The API calls (routes of the table).
        var apiCalls: [JournalEntry] { entries.filter { routes[$0.seq] != nil } }
    }

    static func describe(_ entry: JournalEntry) -> String {
        "#\(entry.seq) \(entry.method) \(entry.path) at \(Int(entry.simulatedSeconds.rounded())) s (status \(entry.status)\(entry.code.map { ", code \($0)" } ?? ""))"
    }

    /// `3 messages`, `1 message`.
    static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    static func messageText(_ entry: JournalEntry) -> String? {
        entry.body?.json?["new_message"]?["parts"]?[0]?["text"]?.stringValue
    }

    /// `Authorization: Bearer ...` (the scheme in any case, as servers read it).
    static func isBearer(_ entry: JournalEntry) -> Bool {
        entry.headers["authorization"]?.lowercased().hasPrefix("bearer ") == true
    }

    /// Whether `later` came at least `seconds` after `earlier`, with 5 %
    /// of slack: arrival times are stamped when the server reads a request,
    /// so a busy server can make a client's exact waits look a little short.
    static func waited(_ seconds: Double, from earlier: Double, to later: Double) -> Bool {
        later - earlier >= seconds * 0.95
    }

    /// The rules, in report order.
    public static let all: [Rule] = [
        Rule(
            id: "attribution-headers", title: "X-Skill-Source, X-Skill-Version and X-Skill-Platform on every call but token issuance",
            source: "skill 1.9 §3 (every call carries the attribution headers)", challenge: "any API call",
            grade: { timeline in
                let calls = timeline.apiCalls.filter { timeline.route($0) != "anonymous_token" }
                guard !calls.isEmpty else { return .notExercised }
                let bad = calls.filter { !$0.missingAttribution.isEmpty }
                guard bad.isEmpty else {
                    return .failed("\(bad.count) of \(calls.count) calls lacked attribution headers: " + bad.prefix(3).map { describe($0) + " lacked " + $0.missingAttribution.joined(separator: ", ") }.joined(separator: "; "), bad)
                }
                return .passed("all \(count(calls.count, "call")) carried them")
            }),
        Rule(
            id: "bearer-token", title: "Authorization: Bearer on every call but token issuance",
            source: "skill 1.9 §3 (Authorization: Bearer $TOKEN on every call)", challenge: "any API call after the token",
            grade: { timeline in
                let calls = timeline.apiCalls.filter { timeline.route($0) != "anonymous_token" }
                guard !calls.isEmpty else { return .notExercised }
                let bad = calls.filter { !isBearer($0) }
                guard bad.isEmpty else {
                    return .failed("\(bad.count) calls without a bearer token: " + bad.prefix(3).map(describe).joined(separator: "; "), bad)
                }
                return .passed("all \(count(calls.count, "call")) carried one")
            }),
        Rule(
            id: "client-id", title: "X-Client-Id on every token request, the same id each time",
            source: "skill 1.9 §1 (a persisted Client-Id; tokens are 1 per client id per 7 days)", challenge: "the 429 and the 1001 challenges (a second token request)",
            grade: { timeline in
                let requests = timeline.calls("anonymous_token")
                guard !requests.isEmpty else { return .notExercised }
                let missing = requests.filter { $0.headers["x-client-id"] == nil }
                if !missing.isEmpty { return .failed("token requests without X-Client-Id: " + missing.map(describe).joined(separator: "; "), missing) }
                let ids = Set(requests.compactMap { $0.headers["x-client-id"] })
                guard ids.count == 1 else {
                    return .failed("\(requests.count) token requests used \(ids.count) client ids (a new id per request gets a new account and new credits)", requests)
                }
                return .passed("\(count(requests.count, "token request")), one client id", requests)
            }),
        Rule(
            id: "no-export-message", title: "Never send \"export\" to the agent (export goes through the render API)",
            source: "skill 1.9 §3.5 (NEVER send \"export\" to backend)", challenge: "any message",
            grade: { timeline in
                let messages = timeline.calls("run_sse")
                guard !messages.isEmpty else { return .notExercised }
                let bad = messages.filter { (messageText($0) ?? "").range(of: #"\bexport"#, options: [.regularExpression, .caseInsensitive]) != nil }
                guard bad.isEmpty else { return .failed("a message asked the agent to export: " + bad.map { "\(describe($0)): \"\(messageText($0) ?? "")\"" }.joined(separator: "; "), bad) }
                return .passed("\(count(messages.count, "message")), none asked to export")
            }),
        Rule(
            id: "state-after-silent-close", title: "After a stream that closed silently, a state query before the next message",
            source: "skill 1.9 §3.1, Silent Response Fallback (query the state, compare, report)", challenge: "an edit whose stream closes silently (silent_close_ratio 1)",
            grade: { timeline in
                let silent = timeline.calls("run_sse").filter { $0.stream?.ended == "silent" }
                guard !silent.isEmpty else { return .notExercised }
                for stream in silent {
                    let (queries, next) = timeline.stateQueries(after: stream)
                    if queries.isEmpty {
                        return .failed(
                            "\(describe(stream)) closed silently and \(next.map { "the next message \(describe($0)) came" } ?? "the client stopped") without a state query", [stream] + [next].compactMap { $0 })
                    }
                }
                return .passed("\(count(silent.count, "silent close")), each followed by a state query", silent)
            }),
        Rule(
            id: "no-resend-while-running", title: "Never re-send a message while its operation runs",
            source: "skill 1.9 §3.6 (never re-send: the work goes on after the stream ends)", challenge: "any message (a long generation)",
            grade: { timeline in
                let started = timeline.calls("run_sse").filter { $0.operationEndsSeconds != nil }
                guard !started.isEmpty else { return .notExercised }
                for message in started {
                    let resent = timeline.after(message).filter {
                        timeline.route($0) == "run_sse" && $0.session == message.session && messageText($0) != nil
                            && messageText($0) == messageText(message) && $0.simulatedSeconds < message.operationEndsSeconds!
                    }
                    if let again = resent.first {
                        return .failed(
                            "\(describe(again)) sent \"\(messageText(message) ?? "")\" again while the operation of \(describe(message)) ran (until \(Int(message.operationEndsSeconds!)) s)",
                            [message, again])
                    }
                }
                return .passed("\(count(started.count, "operation")), none re-sent while running", started)
            }),
        Rule(
            id: "dropped-stream", title: "After a dropped stream: the first state query at least 30 s later, then at least 60 s apart, at most 5",
            source: "skill 1.9 §3.6 (wait 30 s, query the state, then every 60 s, at most 5 times)", challenge: "the second message's stream cut after 2 events",
            grade: { timeline in
                let dropped = timeline.calls("run_sse").filter { $0.stream?.ended == "fault" }
                guard !dropped.isEmpty else { return .notExercised }
                for stream in dropped {
                    let (before, nextMessage) = timeline.stateQueries(after: stream)
                    // The polling: until the first query once the work ended
                    // (queries after that are the client's own business).
                    var polling: [JournalEntry] = []
                    for query in before {
                        polling.append(query)
                        if let ends = stream.operationEndsSeconds, query.simulatedSeconds >= ends { break }
                    }
                    guard let first = polling.first else {
                        return .failed("\(describe(stream)) was dropped and no state query followed", [stream] + [nextMessage].compactMap { $0 })
                    }
                    let wait = first.simulatedSeconds - stream.simulatedEndSeconds
                    if !waited(30, from: stream.simulatedEndSeconds, to: first.simulatedSeconds) { return .failed("the first state query came \(Int(wait)) s after the drop (at least 30 s)", [stream, first]) }
                    for (previous, query) in zip(polling, polling.dropFirst()) where !waited(60, from: previous.simulatedSeconds, to: query.simulatedSeconds) {
                        return .failed("state queries \(Int(query.simulatedSeconds - previous.simulatedSeconds)) s apart after a drop (at least 60 s)", [previous, query])
                    }
                    if polling.count > 5 { return .failed("\(polling.count) state queries after a drop (at most 5)", polling) }
                }
                return .passed("\(count(dropped.count, "dropped stream")), recovered by the rule", dropped)
            }),
        Rule(
            id: "token-refresh-1001", title: "1001: a new token with the same client id, then the call again",
            source: "skill 1.9 §7 (1001: re-auth via anonymous-token)", challenge: "a 1001 on the first credits call (a token that expired mid-session)",
            grade: { timeline in
                let failures = timeline.apiCalls.filter { $0.code == 1001 && $0.missingAttribution.isEmpty && isBearer($0) }
                guard !failures.isEmpty else { return .notExercised }
                for failure in failures {
                    let later = timeline.after(failure)
                    guard let issue = later.first(where: { timeline.route($0) == "anonymous_token" }) else {
                        return .failed("\(describe(failure)) got 1001 and no new token was asked for", [failure])
                    }
                    guard let again = timeline.after(issue).first(where: { $0.method == failure.method && $0.path == failure.path }) else {
                        return .failed("after 1001 on \(describe(failure)) and a new token (\(describe(issue))), the call was not made again", [failure, issue])
                    }
                    if again.headers["authorization"] == failure.headers["authorization"] {
                        return .failed("\(describe(again)) repeated the call with the token that got 1001", [failure, issue, again])
                    }
                }
                return .passed("\(count(failures.count, "1001")), each followed by a new token and the call again", failures)
            }),
        Rule(
            id: "new-session-1002", title: "1002: a new session, and the old one not used again",
            source: "skill 1.9 §7 (1002: new session §3.0)", challenge: "a 1002 on the first message (a session that is gone)",
            grade: { timeline in
                let gone = timeline.apiCalls.filter { $0.code == 1002 }
                guard !gone.isEmpty else { return .notExercised }
                for answer in gone {
                    let later = timeline.after(answer)
                    // The session it named: known to the journal, or (a fault
                    // answered before the body was read) the client's latest.
                    let earlier = timeline.entries.prefix { $0.seq != answer.seq }
                    if let session = answer.session ?? earlier.last(where: { $0.session != nil })?.session,
                        let reuse = later.first(where: { $0.session == session && timeline.route($0) != "create_session" })
                    {
                        return .failed("after 1002 on \(describe(answer)), session \(session) was used again (\(describe(reuse)))", [answer, reuse])
                    }
                    guard later.contains(where: { timeline.route($0) == "create_session" }) else {
                        return .failed("after 1002 on \(describe(answer)), no new session was created", [answer])
                    }
                }
                return .passed("\(count(gone.count, "1002")), each followed by a new session", gone)
            }),
        Rule(
            id: "wait-after-429", title: "429: wait at least 30 s, then retry once",
            source: "skill 1.9 §7 (429: retry in 30 s once)", challenge: "a 429 on the first token request",
            grade: { timeline in
                let limited = timeline.apiCalls.filter { $0.status == 429 || $0.code == 429 }
                guard !limited.isEmpty else { return .notExercised }
                for answer in limited {
                    let retries = timeline.after(answer).filter { $0.method == answer.method && $0.path == answer.path }
                    guard let retry = retries.first else { continue }  // gave up: allowed
                    let wait = retry.simulatedSeconds - answer.simulatedEndSeconds
                    if !waited(30, from: answer.simulatedEndSeconds, to: retry.simulatedSeconds) { return .failed("\(describe(retry)) retried \(Int(wait)) s after the 429 (at least 30 s)", [answer, retry]) }
                    if retry.status == 429 || retry.code == 429, let third = retries.dropFirst().first {
                        return .failed("a second retry after two 429s (\(describe(third))): retry once", [answer, retry, third])
                    }
                }
                return .passed("\(count(limited.count, "429")), each waited for", limited)
            }),
        Rule(
            id: "no-retry-2001", title: "2001: no retry loop (the same message not sent again)",
            source: "skill 1.9 §7 (2001: show the registration link or top up)", challenge: "credits running out at the fourth message",
            grade: { timeline in
                let refused = timeline.calls("run_sse").filter { $0.code == 2001 }
                guard !refused.isEmpty else { return .notExercised }
                for answer in refused {
                    let again = timeline.after(answer).filter {
                        timeline.route($0) == "run_sse" && messageText($0) != nil && messageText($0) == messageText(answer) && $0.session == answer.session
                    }
                    if !again.isEmpty { return .failed("after 2001 on \(describe(answer)) the same message was sent \(again.count) more time\(again.count == 1 ? "" : "s")", [answer] + again) }
                }
                return .passed("\(count(refused.count, "2001")), not retried", refused)
            }),
        Rule(
            id: "no-token-in-url", title: "No token in any URL (query strings included)",
            source: "skill 1.9 §3.0 (claim links carry a claim token, never the API token)", challenge: "any API call",
            grade: { timeline in
                guard !timeline.entries.isEmpty else { return .notExercised }
                let bad = timeline.entries.filter { ($0.path + "?" + ($0.query ?? "")).contains("nmv_") }
                guard bad.isEmpty else { return .failed("a token in a URL: " + bad.prefix(3).map(describe).joined(separator: "; "), bad) }
                return .passed("no token in \(count(timeline.entries.count, "URL"))")
            }),
        Rule(
            id: "stream-timeout", title: "An event stream is not cut short: a timeout of at least 10 minutes",
            source: "skill 1.9 §3.1 (curl --max-time 900 on /run_sse)", challenge: "a generation streaming heartbeats for more than 2 minutes",
            grade: { timeline in
                let streams = timeline.calls("run_sse").filter { $0.stream != nil }
                let long = streams.filter { $0.simulatedEndSeconds - $0.simulatedSeconds >= 120 || $0.stream?.ended == "client" }
                guard !long.isEmpty else { return .notExercised }
                let cut = long.filter { $0.stream?.ended == "client" && $0.simulatedEndSeconds - $0.simulatedSeconds < 600 }
                guard cut.isEmpty else {
                    return .failed("the client closed \(cut.count) stream\(cut.count == 1 ? "" : "s") early: " + cut.map { "\(describe($0)) after \(Int($0.simulatedEndSeconds - $0.simulatedSeconds)) s" }.joined(separator: "; "), cut)
                }
                return .passed("\(count(long.count, "long stream")) read to the end", long)
            }),
        Rule(
            id: "render-fresh-id", title: "A fresh id for every render job",
            source: "skill 1.9 §3.5b (a unique id per render; a retry uses a new one)", challenge: "an export (a render submission)",
            grade: { timeline in
                let submits = timeline.calls("render_submit")
                guard !submits.isEmpty else { return .notExercised }
                var seen: [String: JournalEntry] = [:]
                for submit in submits {
                    guard let id = submit.body?.json?["id"]?.stringValue else { continue }
                    if let earlier = seen[id] { return .failed("\(describe(submit)) reused the render id of \(describe(earlier))", [earlier, submit]) }
                    seen[id] = submit
                }
                return .passed("\(count(submits.count, "submission")), each with a new id", submits)
            }),
        Rule(
            id: "render-retry-once", title: "After a failed render, exactly one retry",
            source: "skill 1.9 §3.5b (on failure, retry once with a new id)", challenge: "a render that fails (the first one)",
            grade: { timeline in
                let failures = timeline.calls("render_status").filter { $0.render?.status == "failed" }
                let failedIDs = Set(failures.compactMap { $0.render?.id })
                guard !failedIDs.isEmpty else { return .notExercised }
                for id in failedIDs.sorted() {
                    let seen = failures.first { $0.render?.id == id }!
                    // The submissions after the failure, until a render completes.
                    let retries = timeline.after(seen).prefix { $0.render?.status != "completed" }.filter { timeline.route($0) == "render_submit" }
                    if retries.isEmpty { return .failed("render \(id) failed (\(describe(seen))) and was not retried", [seen]) }
                    if retries.count > 1 { return .failed("render \(id) failed and was submitted again \(retries.count) times (once)", [seen] + retries) }
                }
                return .passed("\(count(failedIDs.count, "failed render")), each retried once", failures)
            }),
        Rule(
            id: "render-poll-pace", title: "Render status polled no faster than documented, and no more often",
            source: "skill 1.9 §3.5c (poll every 30 s, at most 10 times); the simulator's profile gives the values", challenge: "an export",
            grade: { timeline in
                let polls = timeline.calls("render_status")
                guard !polls.isEmpty else { return .notExercised }
                let interval = timeline.documented.renderPollIntervalSeconds
                for (id, jobPolls) in Dictionary(grouping: polls, by: { $0.render?.id ?? $0.path }).sorted(by: { $0.key < $1.key }) {
                    for (previous, poll) in zip(jobPolls, jobPolls.dropFirst()) where !waited(interval, from: previous.simulatedSeconds, to: poll.simulatedSeconds) {
                        return .failed("render \(id) polled \(Int(poll.simulatedSeconds - previous.simulatedSeconds)) s apart (every \(Int(interval)) s)", [previous, poll])
                    }
                    if jobPolls.count > timeline.documented.renderMaxPolls {
                        return .failed("render \(id) polled \(jobPolls.count) times (at most \(timeline.documented.renderMaxPolls))", jobPolls)
                    }
                }
                return .passed("\(count(polls.count, "poll")), every \(Int(interval)) s or slower", polls)
            }),
        Rule(
            id: "download-fallback", title: "When the output URL fails, the download endpoint with the token",
            source: "skill 1.9 §3.5d (download the URL; if it fails, GET /api/render/proxy/{id}/download)", challenge: "an output URL that expired before the download",
            grade: { timeline in
                let failed = timeline.entries.filter { $0.path.hasPrefix("/_nemosim/media/renders/") && $0.status >= 400 }
                guard !failed.isEmpty else { return .notExercised }
                for download in failed {
                    let id = download.render?.id
                    let fallback = timeline.after(download).first { timeline.route($0) == "render_download" && (id == nil || $0.render?.id == id) }
                    if fallback == nil { return .failed("the output URL failed (\(describe(download))) and the download endpoint was not tried", [download]) }
                }
                return .passed("\(count(failed.count, "failed output URL")), each followed by the download endpoint", failed)
            }),
    ]

    /// Grades a journal against every rule.
    public static func grade(_ entries: [JournalEntry], documented: Documented = Documented(), rules: [Rule] = all) -> [Result] {
        var timeline = Timeline(entries)
        timeline.documented = documented
        return rules.map { rule in
            var grade = rule.grade(timeline)
            if grade.verdict == .notExercised { grade.detail = "not exercised: needs \(rule.challenge)" }
            return Result(rule: rule.id, title: rule.title, source: rule.source, verdict: grade.verdict, detail: grade.detail, evidence: grade.evidence)
        }
    }
}

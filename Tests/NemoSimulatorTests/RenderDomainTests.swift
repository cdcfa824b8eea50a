import Foundation
import NIOCore
import NemoCore
import NemoHTTPServer
import Testing

@testable import NemoSimulator

let attribution = ["X-Skill-Source", "X-Skill-Version", "X-Skill-Platform"]

@Suite("Simulation: renders")
struct RenderDomainTests {
    func ready() async throws -> (Simulation, String, String, Draft) {
        let simulation = frozenSimulation { $0.renderDurationSeconds = SecondsRange(60, 60) }
        let (token, _, session) = try await signedIn(simulation)
        _ = try await generatedDraft(simulation, token: token, session: session)
        let draft = try #require(try await simulation.state(token: token, userPath: "me", sessionID: session).state.draft)
        return (simulation, token, session, draft)
    }

    @Test("pending → processing with rising progress → completed with a signed URL, in the render envelope")
    func lifecycle() async throws {
        let (simulation, token, session, draft) = try await ready()
        let submitted = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "render_1", sessionID: session, draft: draft))
        #expect(submitted.status == .pending && submitted.progress == 5)
        try await simulation.advanceClock(by: 3)
        let early = try await simulation.renderStatus(token: token, id: "render_1")
        try await simulation.advanceClock(by: 30)
        let later = try await simulation.renderStatus(token: token, id: "render_1")
        #expect(early.status == .processing && later.status == .processing)
        #expect(try #require(later.progress) > early.progress!)
        try await simulation.advanceClock(by: 40)
        let done = try await simulation.renderStatus(token: token, id: "render_1")
        #expect(done.status == .completed && done.progress == 100)
        let url = try #require(done.outputURL)
        #expect(url.contains("/_nemosim/media/renders/render_1.mp4?expires="))
        #expect(done.completedAt! > done.createdAt!)
        try await simulation.authorizeDownload(token: token, id: "render_1")
        let signature = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "signature" }?.value)
        let expires = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "expires" }?.value)
        try await simulation.authorizeSignedDownload(id: "render_1", signature: signature, expires: expires)
        await expectFailure(.http(403, "")) { try await simulation.authorizeSignedDownload(id: "render_1", signature: "forged", expires: expires) }
        // The signature covers the expiry: changing or dropping it fails.
        await expectFailure(.http(403, "")) { try await simulation.authorizeSignedDownload(id: "render_1", signature: signature, expires: "99999999999") }
        await expectFailure(.http(403, "")) { try await simulation.authorizeSignedDownload(id: "render_1", signature: signature, expires: nil) }
        // The signed URL expires after 24 h; the fallback download still works.
        try await simulation.advanceClock(by: 86401)
        await expectFailure(.http(403, "")) { try await simulation.authorizeSignedDownload(id: "render_1", signature: signature, expires: expires) }
        try await simulation.authorizeDownload(token: token, id: "render_1")
    }

    @Test("402 without attribution headers or when export is blocked; reused id; empty draft; unknown session")
    func rejections() async throws {
        let (simulation, token, session, draft) = try await ready()
        await expectFailure(.http(402, "")) {
            _ = try await simulation.submitRender(token: token, missingAttribution: ["X-Skill-Source"], request: RenderRequest(id: "r", sessionID: session, draft: draft))
        }
        _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "r", sessionID: session, draft: draft))
        await expectFailure(.http(409, "")) {
            _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "r", sessionID: session, draft: draft))
        }
        await expectFailure(.http(400, "")) {
            _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "r2", sessionID: session, draft: Draft()))
        }
        await expectFailure(.code(.sessionNotFound, "")) {
            _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "r3", sessionID: "999", draft: draft))
        }
        _ = try simulation.patchProfile(["export_blocked": true])
        await expectFailure(.http(402, "")) {
            _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "r4", sessionID: session, draft: draft))
        }
    }

    @Test("One active render per session: the next one queues behind it")
    func queue() async throws {
        let (simulation, token, session, draft) = try await ready()
        _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "a", sessionID: session, draft: draft))
        _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "b", sessionID: session, draft: draft))
        try await simulation.advanceClock(by: 30)
        #expect(try await simulation.renderStatus(token: token, id: "a").status == .processing)
        #expect(try await simulation.renderStatus(token: token, id: "b").status == .pending)
        try await simulation.advanceClock(by: 40)
        #expect(try await simulation.renderStatus(token: token, id: "a").status == .completed)
        #expect(try await simulation.renderStatus(token: token, id: "b").status == .processing)
        try await simulation.advanceClock(by: 60)
        #expect(try await simulation.renderStatus(token: token, id: "b").status == .completed)
    }

    @Test("Cancel a pending job; a finished one cannot be cancelled; failures by profile ratio")
    func cancelAndFail() async throws {
        let (simulation, token, session, draft) = try await ready()
        _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "c", sessionID: session, draft: draft))
        #expect(try await simulation.cancelRender(token: token, id: "c").status == .cancelled)
        try await simulation.advanceClock(by: 100)
        #expect(try await simulation.renderStatus(token: token, id: "c").status == .cancelled)
        await expectFailure(.http(409, "")) { _ = try await simulation.cancelRender(token: token, id: "c") }
        await expectFailure(.http(409, "")) { try await simulation.authorizeDownload(token: token, id: "c") }
        await expectFailure(.http(404, "")) { _ = try await simulation.renderStatus(token: token, id: "nope") }
        _ = try simulation.patchProfile(["render_failure_ratio": 1])
        _ = try await simulation.submitRender(token: token, missingAttribution: [], request: RenderRequest(id: "f", sessionID: session, draft: draft))
        try await simulation.advanceClock(by: 100)
        let failed = try await simulation.renderStatus(token: token, id: "f")
        #expect(failed.status == .failed && failed.outputURL == nil && failed.message != nil)
    }
}

@Suite("Render body shapes")
struct RenderShapeTests {
    let job = RenderJob(id: "render_1", status: .completed, progress: 100, outputURL: "http://x/y.mp4", createdAt: 1, completedAt: 2)

    func body(_ shape: RenderShape) throws -> JSONValue {
        let answer = JSONAnswer.render(job, shape: shape)
        return try JSONDecoder().decode(JSONValue.self, from: Data(answer.body.readableBytesView))
    }

    @Test("reference: status and outputUrl inside data, nothing at the top level")
    func reference() throws {
        let wire = try body(.reference)
        #expect(wire["data"]?["status"] == "completed" && wire["data"]?["outputUrl"] == "http://x/y.mp4")
        #expect(wire["status"] == nil && wire["output"] == nil)
        let back = try wire.decode(RenderJob.self)
        #expect(back.status == .completed && back.outputURL == "http://x/y.mp4" && back.id == "render_1")
    }

    @Test("skill: top-level status and output.url, data holds only the id")
    func skill() throws {
        let wire = try body(.skill)
        #expect(wire["status"] == "completed" && wire["output"]?["url"] == "http://x/y.mp4")
        #expect(wire["data"]?["status"] == nil && wire["data"]?["outputUrl"] == nil && wire["data"]?["id"] == "render_1")
        #expect(try wire.decode(RenderJob.self).outputURL == "http://x/y.mp4")
    }

    @Test("both: a reader of either shape finds what it reads")
    func both() throws {
        let wire = try body(.both)
        #expect(wire["data"]?["status"] == "completed" && wire["status"] == "completed")
        #expect(wire["data"]?["outputUrl"] == "http://x/y.mp4" && wire["output"]?["url"] == "http://x/y.mp4")
    }
}

@Suite("Profile")
struct ProfileTests {
    @Test("Defaults reproduce API.md")
    func defaults() {
        let profile = BehaviourProfile()
        #expect(profile.maxUploadBytes == 500 * 1024 * 1024)
        #expect(profile.silentCloseRatio == 0.3)
        #expect(profile.tokenTTLSeconds == 604_800)
        #expect(profile.errorStatusMode == .envelope && profile.sseDialect == .typed)
        #expect(profile.renderDurationSeconds == SecondsRange(30, 90))
        #expect(profile.generationDurationSeconds == SecondsRange(100, 300))
        #expect(profile.name == "strict")
        #expect(profile.renderShape == .reference && !profile.streamResume && !profile.sseEventIDs)
        #expect(profile.tokensPerClient == 1 && profile.tokenClientWindowSeconds == 604_800)
        #expect(profile.anonymousScopes == [.read, .write, .upload] && profile.attributionRequired == .everyCall)
        #expect(profile.editCharge == .perSession && profile.renderPollIntervalSeconds == 30 && profile.renderMaxPolls == 10)
        #expect(profile.validationErrors().isEmpty)
        for key in ["max_upload_bytes", "silent_close_ratio", "heartbeat_interval_seconds", "error_status_mode", "sse_dialect", "token_ttl_seconds", "session_idle_ttl_seconds"] {
            #expect(BehaviourProfile.keys.contains(key))
        }
        #expect(Set(profile.jsonValue.objectValue!.keys) == Set(BehaviourProfile.keys))
    }

    @Test("The shipped profiles: strict is the built-in default; each says which text every key it changes follows")
    func shipped() throws {
        let strict = try BehaviourProfile.shipped("strict")
        var defaults = BehaviourProfile()
        defaults.follows = strict.follows
        defaults.description = strict.description
        #expect(strict == defaults, "strict.yaml and the built-in defaults differ")
        for name in BehaviourProfile.shippedNames {
            let profile = try BehaviourProfile.shipped(name)
            #expect(profile.name == name && profile.base == name && profile.validationErrors().isEmpty)
            #expect(!profile.description.isEmpty)
            guard name != "strict" else { continue }
            let own = try BehaviourProfile.ownFollows(name)
            for key in BehaviourProfile.keys where !["name", "description", "follows", "base"].contains(key) {
                if profile.jsonValue[key] != strict.jsonValue[key] {
                    #expect(own[key] != nil, "\(name) changes \(key) without saying which text it follows")
                }
            }
        }
        #expect(throws: ProfileError.self) { try BehaviourProfile.shipped("forgiving") }
        // Every strict key whose reading the texts dispute names its text.
        for key in ["render_shape", "stream_resume", "sse_event_ids", "anonymous_scopes", "tokens_per_client", "attribution_required", "edit_charge"] {
            #expect(strict.follows[key] != nil, "strict does not say what \(key) follows")
        }
    }

    @Test("A profile file may start from a shipped profile (base:); without a name it is custom:FILE")
    func base() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-base-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("slow-skill.yaml")
        try "base: skill\nheartbeat_interval_seconds: 30\n".write(to: file, atomically: true, encoding: .utf8)
        let profile = try BehaviourProfile.named(file.path)
        #expect(profile.name == "custom:slow-skill.yaml" && profile.base == "skill")
        #expect(profile.renderShape == .skill && profile.heartbeatIntervalSeconds == 30)
        #expect(profile.follows["render_shape"] == (try BehaviourProfile.shipped("skill")).follows["render_shape"])
        try "base: forgiving\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(profileProblem(file)?.contains("base must be a shipped profile") == true)
        #expect(try BehaviourProfile.named("lenient").streamResume)
    }

    @Test("A patch is merged; unknown keys, wrong types and bad values are refused, naming the key")
    func patch() throws {
        let patched = try BehaviourProfile().merging(["silent_close_ratio": 0.5, "sse_dialect": "adk", "edit_duration_seconds": [1, 2]])
        #expect(patched.silentCloseRatio == 0.5 && patched.sseDialect == .adk && patched.editDurationSeconds == SecondsRange(1, 2))
        #expect(patched.maxUploadBytes == BehaviourProfile().maxUploadBytes)
        func problems(_ patch: JSONValue) -> String {
            do {
                _ = try BehaviourProfile().merging(patch)
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(problems(["silent_close": 0.5]).contains("unknown profile key \"silent_close\""))
        #expect(problems(["silent_close_ratio": "lots"]).contains("silent_close_ratio"))
        #expect(problems(["silent_close_ratio": 2]).contains("silent_close_ratio must be between 0 and 1"))
        #expect(problems(["sse_dialect": "xml"]).contains("sse_dialect"))
        #expect(problems(["reply_duration_seconds": [5]]).contains("reply_duration_seconds"))
        #expect(problems(["render_duration_seconds": [90, 30]]).contains("render_duration_seconds must be [min, max]"))
        #expect(problems([1, 2]).contains("JSON object"))
    }

    @Test("Profiles load from YAML and JSON files")
    func files() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-profile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let yaml = directory.appendingPathComponent("p.yaml")
        try "# slower backend\nheartbeat_interval_seconds: 5\nerror_status_mode: http\nrender_duration_seconds: [10, 20]\n".write(to: yaml, atomically: true, encoding: .utf8)
        let fromYAML = try BehaviourProfile.load(contentsOf: yaml)
        #expect(fromYAML.heartbeatIntervalSeconds == 5 && fromYAML.errorStatusMode == .http && fromYAML.renderDurationSeconds == SecondsRange(10, 20))
        let json = directory.appendingPathComponent("p.json")
        try #"{"silent_close_ratio": 0}"#.write(to: json, atomically: true, encoding: .utf8)
        #expect(try BehaviourProfile.load(contentsOf: json).silentCloseRatio == 0)
        let bad = directory.appendingPathComponent("bad.yaml")
        try "heartbeat_interval_seconds: -1\n".write(to: bad, atomically: true, encoding: .utf8)
        #expect(throws: ProfileError.self) { try BehaviourProfile.load(contentsOf: bad) }
        #expect(throws: ProfileError.self) { try BehaviourProfile.load(contentsOf: directory.appendingPathComponent("missing.yaml")) }
        #expect(profileProblem(directory.appendingPathComponent("missing.yaml"))?.contains("No such file or directory") == true)
        let binary = directory.appendingPathComponent("b.yaml")
        try Data([0xFF, 0xFE, 0x00]).write(to: binary)
        #expect(profileProblem(binary)?.contains("is not UTF-8 text") == true)
        let huge = directory.appendingPathComponent("huge.yaml")
        try Data(repeating: UInt8(ascii: "#"), count: (1 << 20) + 1).write(to: huge)
        #expect(profileProblem(huge)?.contains("larger than 1 MiB") == true)
        // A pipe reads like a file (`--profile <(...)`).
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let text = Data("silent_close_ratio: 0.5\n".utf8)
        _ = text.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        defer { close(fds[0]) }
        #expect(try BehaviourProfile.load(contentsOf: URL(fileURLWithPath: "/dev/fd/\(fds[0])")).silentCloseRatio == 0.5)
    }
}

/// The first problem loading a profile file reports, if any.
func profileProblem(_ url: URL) -> String? {
    do {
        _ = try BehaviourProfile.load(contentsOf: url)
        return nil
    } catch let error as ProfileError {
        return error.problems.first
    } catch {
        return "\(error)"
    }
}

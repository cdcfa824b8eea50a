import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

let attribution = ["X-Skill-Source", "X-Skill-Version", "X-Skill-Platform"]

@Suite("Simulation: renders")
struct RenderDomainTests {
    func ready() async throws -> (Simulation, String, String, Draft) {
        let simulation = frozenSimulation { $0.renderDurationSeconds = SecondsRange(60, 60) }
        let (token, _, session) = try await signedIn(simulation)
        _ = try await generatedDraft(simulation, token: token, session: session)
        let draft = try #require(try await simulation.state(token: token, userPath: "me", sessionID: session).draft)
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
        // Both shapes at once on the wire.
        #expect(done.wireValue["data"]?["outputUrl"] == .string(url) && done.wireValue["output"]?["url"] == .string(url))
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
        let fresh = try await simulation.issueToken(clientID: "client-1", clientIP: "ip-client-1")
        try await simulation.authorizeDownload(token: fresh.token, id: "render_1")
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
        #expect(profile.validationErrors().isEmpty)
        for key in ["max_upload_bytes", "silent_close_ratio", "heartbeat_interval_seconds", "error_status_mode", "sse_dialect", "token_ttl_seconds", "session_idle_ttl_seconds"] {
            #expect(BehaviourProfile.keys.contains(key))
        }
        #expect(Set(profile.jsonValue.objectValue!.keys) == Set(BehaviourProfile.keys))
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

import Foundation
import NemoClient
import NemoCore
import NemoSimulator
import Testing

@Suite("Client against a real simulator: endpoints")
struct ClientEndpointTests {
    @Test("A whole session: token, session, uploads, message, state, credits, render, poll, download, export")
    func wholeSession() async throws {
        let harness = try await ClientHarness.start {
            $0.temporaryIssueRatio = 0
            $0.silentGenerationRatio = 0
        }
        let client = harness.client
        let token = try await client.issueToken()
        #expect(token.token.hasPrefix("nmv_usr_") && token.credits == 100)
        let session = try await client.createSession()
        #expect(await client.sessionID == session.sessionID)

        let image = try temporaryFile("poster.png", size: 2048)
        let clip = try temporaryFile("clip.mp4", size: 300_000)
        let uploaded = try await client.upload(files: [image, clip])
        #expect(uploaded.files.map(\.fileType) == ["image", "video"])
        #expect(uploaded.files[1].size == 300_000)
        let byURL = try await client.upload(urls: ["https://example.com/music.mp3"])
        #expect(byURL.files.first?.fileType == "audio")

        let outcome = try await client.sendAndWait("make a 20 second promo video")
        #expect(outcome.ending == .text)
        #expect(outcome.events.first?.kind == "tool_call")
        #expect(outcome.heartbeats > 0 && !outcome.events.contains(.heartbeat))
        #expect(!outcome.texts.isEmpty)

        try await harness.server.simulation.advanceClock(by: 120)
        let state = try await client.state()
        #expect(state.draft?.tracks.count == 3)
        #expect(state.draft?.summary.hasPrefix("Timeline (3 tracks): 1. Video: poster") == true)
        #expect(try await client.credits() == CreditBalance(available: 0, frozen: 0))

        let job = try await client.submitRender(draft: state.draft!)
        #expect(job.status == .pending)
        let done = try await client.waitForRender(id: job.id!)
        #expect(done.status == .completed && done.outputURL != nil)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-\(UUID().uuidString).mp4")
        try await client.download(done, to: file)
        let bytes = try Data(contentsOf: file)
        #expect(bytes.count > 10_000 && bytes[4..<8] == Data("ftyp".utf8))

        // The whole export in one call, and cancel.
        let exported = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-\(UUID().uuidString).mp4")
        let final = try await client.export(to: exported)
        #expect(final.status == .completed && FileManager.default.fileExists(atPath: exported.path))
        _ = try harness.server.simulation.patchProfile(["render_queue_seconds": 100_000])
        let pending = try await client.submitRender(draft: state.draft!)
        let cancelled = try await client.cancelRender(id: pending.id!)
        #expect(cancelled.status == .cancelled)
        await harness.stop()
    }

    @Test("Every error code reaches the caller as a NemoError with code, status and next step (rules off)")
    func errorCodes() async throws {
        let harness = try await ClientHarness.start(policy: .none) { $0.maxUploadBytes = 1000 }
        try await harness.signIn()
        let client = harness.client
        func failure(_ body: () async throws -> Void) async -> NemoError? {
            do {
                try await body()
                return nil
            } catch let error as NemoError {
                return error
            } catch {
                return nil
            }
        }
        harness.arm("GET", "/api/credits/balance/simple", .code(1001))
        let e1001 = await failure { _ = try await client.credits() }
        #expect(e1001?.code == .tokenInvalid && e1001?.reaction == .renewToken)
        harness.arm("GET", "/api/state/*", .code(1002))
        let e1002 = await failure { _ = try await client.state() }
        #expect(e1002?.code == .sessionNotFound && e1002?.nextStep.contains("new session") == true)
        let e4001 = await failure { _ = try await client.upload(files: [try temporaryFile("notes.txt", size: 10)]) }
        #expect(e4001?.code == .unsupportedFileType)
        let e4002 = await failure { _ = try await client.upload(files: [try temporaryFile("big.mp4", size: 5000)]) }
        #expect(e4002?.code == .fileTooLarge)
        harness.arm("GET", "/api/credits/balance/simple", .httpStatus(429))
        let e429 = await failure { _ = try await client.credits() }
        #expect(e429?.httpStatus == 429 && e429?.reaction == .waitAndRetryOnce)
        try await harness.server.simulation.setCredits(userID: await client.userID!, available: 0)
        let e2001 = await failure { _ = try await client.sendAndWait("make a video") }
        #expect(e2001?.code == .outOfCredits && e2001?.message.contains("bind=") == true)
        try await harness.server.simulation.setScopes(token: await client.token!, scopes: [.read])
        let scope = await failure { _ = try await client.createSession() }
        #expect(scope?.httpStatus == 403 && scope?.reaction == .newTokenWithScope)
        await harness.stop()
    }

    @Test("Attribution on export only (lenient): 402 without the headers; 400 without a client id")
    func attributionAndClientID() async throws {
        let harness = try await ClientHarness.start(attribution: AttributionHeaders(source: "", version: "", platform: "")) {
            $0.attributionRequired = .export
        }
        try await harness.signIn()
        do {
            _ = try await harness.client.submitRender(draft: Draft(tracks: [Track(type: .video, segments: [Segment(start: 0, duration: 1000)])]))
            Issue.record("expected 402")
        } catch let error as NemoError {
            #expect(error.httpStatus == 402 && error.reaction == .registerOrUpgrade)
        }
        let noClient = try await harness.transport.send(ClientRequest(method: "POST", url: harness.server.url + "/api/auth/anonymous-token"))
        #expect(noClient.status == 400)
        await harness.stop()
    }

    @Test("Configuration from the environment; the client id persists")
    func configuration() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-home-\(UUID().uuidString)").path
        let first = ClientConfiguration.fromEnvironment(["HOME": home])
        #expect(first.baseURL == Endpoint.productionBaseURL && first.token == nil)
        let second = ClientConfiguration.fromEnvironment(["HOME": home])
        #expect(first.clientID == second.clientID)
        #expect(try String(contentsOfFile: home + "/.config/nemovideo/client_id", encoding: .utf8) == first.clientID)
        let configured = ClientConfiguration.fromEnvironment([
            "HOME": home, "NEMO_API_URL": "http://127.0.0.1:9/", "NEMO_TOKEN": "nmv_usr_x", "NEMO_CLIENT_ID": "cid", "SKILL_NAME": "my-skill",
            "SKILL_SOURCE": "cursor", "NEMO_WEB_URL": "http://127.0.0.1:8/",
        ])
        // NEMO_TOKEN goes over https only: to a plain-http URL, even a local one, it is not used.
        #expect(configured.baseURL == "http://127.0.0.1:9" && configured.token == nil && configured.clientID == "cid")
        #expect(ClientConfiguration.environmentToken(for: "http://127.0.0.1:9", ["NEMO_TOKEN": "nmv_usr_x"]).refused?.contains("only sent over https") == true)
        let secure = ClientConfiguration.fromEnvironment(["HOME": home, "NEMO_API_URL": "https://api.example", "NEMO_TOKEN": "nmv_usr_x"])
        #expect(secure.token == "nmv_usr_x")
        #expect(ClientConfiguration.environmentToken(for: "HTTPS://api.example", ["NEMO_TOKEN": "nmv_usr_x"]).token == "nmv_usr_x")
        #expect(ClientConfiguration.environmentToken(for: "https://api.example", ["NEMO_TOKEN": ""]) == (nil, nil))
        // Skill 1.9 §3: X-Skill-Source is the skill's name, X-Skill-Platform where it runs.
        #expect(configured.attribution.source == "my-skill" && configured.attribution.platform == "cursor")
        #expect(configured.webAppURL == "http://127.0.0.1:8")
        let bare = ClientConfiguration.fromEnvironment(["HOME": home])
        #expect(bare.attribution.source == "nemosim" && bare.attribution.platform == "unknown" && bare.webAppURL == "https://nemovideo.com")
    }
}

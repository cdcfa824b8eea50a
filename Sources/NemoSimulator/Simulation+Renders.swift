import Crypto
import Foundation
import NemoCore

extension Simulation {
    /// `POST /api/render/proxy/lambda`. HTTP 402 when attribution headers are
    /// missing (or the profile blocks export); an error for a reused id, an
    /// unknown session or an empty draft. One active render per session:
    /// later ones queue behind it.
    /// - Parameter fails: the job fails whatever the profile's failure ratio (the `render_fails` fault).
    public func submitRender(token: String?, missingAttribution: [String] = [], request: RenderRequest, fails: Bool = false) throws(SimulatorFailure) -> RenderJob {
        settle()
        let userID = try authenticate(token, scope: Route.renderSubmit.scope, missingAttribution: missingAttribution, export: true)
        if profile.exportBlocked || accounts[userID]?.freePlan == true {
            throw .http(402, "export is blocked for this plan: register or upgrade at \(profile.webAppURL). This is not a credit problem")
        }
        let id = request.id.trimmingCharacters(in: .whitespaces)
        guard !id.isEmpty, id.utf8.count <= 200 else { throw .badRequest("render id must be a non-empty string of at most 200 bytes, e.g. render_<unique>") }
        guard renders[id] == nil else {
            throw .http(409, "render id \(id) was already used: retry once with a new id")
        }
        _ = try touchSession(request.sessionID, userID: userID)
        guard (accounts[userID]?.heldRenders ?? 0) < profile.maxRendersPerAccount else {
            throw .http(
                429,
                "this account holds \(profile.maxRendersPerAccount) renders, its limit: finished ones are dropped \(spelledOut(seconds: profile.renderRetentionSeconds)) after they end")
        }
        guard request.draft.isReadyForExport else {
            throw .badRequest("the draft is empty (no track has a segment): send a message that creates a video first, then export the draft from state")
        }
        let now = self.now
        // Only this session's renders (an index), not every render ever made.
        let queueEnd = (rendersBySession[request.sessionID] ?? []).compactMap { renders[$0] }.filter { $0.isActive(at: now) }.map(\.endsAt).max() ?? now
        var random = SeededRandom(seed: seed, subject: "render/" + id)
        let duration = random.seconds(in: profile.renderDurationSeconds)
        let job = RenderJobState(
            id: id, sessionID: request.sessionID, userID: userID, draft: request.draft, submittedAt: now,
            startsAt: max(now, queueEnd) + profile.renderQueueSeconds, duration: duration,
            fails: random.chance(profile.renderFailureRatio) || fails, downloadToken: random.hex(32))
        renders[id] = job
        rendersBySession[request.sessionID, default: []].insert(id)
        accounts[userID]?.heldRenders += 1
        scheduleExpiry(.render, id, at: job.endsAt + max(profile.renderRetentionSeconds, profile.downloadURLTTLSeconds))
        return report(job)
    }

    /// `GET /api/render/proxy/lambda/{id}`.
    public func renderStatus(token: String?, missingAttribution: [String] = [], id: String) throws(SimulatorFailure) -> RenderJob {
        settle()
        return report(try ownedRender(token: token, missingAttribution: missingAttribution, id: id, scope: Route.renderStatus.scope))
    }

    /// `POST /api/render/proxy/lambda/{id}/cancel`: cancels a pending or
    /// processing job; a finished job cannot be cancelled.
    public func cancelRender(token: String?, missingAttribution: [String] = [], id: String) throws(SimulatorFailure) -> RenderJob {
        settle()
        var job = try ownedRender(token: token, missingAttribution: missingAttribution, id: id, scope: Route.renderCancel.scope)
        let status = job.status(at: now)
        guard !status.isFinal else {
            throw .http(409, "render \(id) is already \(status.rawValue) and cannot be cancelled")
        }
        job.cancelledAt = now
        renders[id] = job
        return report(job)
    }

    /// The render a download may serve: `GET /api/render/proxy/{id}/download` (bearer token).
    public func authorizeDownload(token: String?, missingAttribution: [String] = [], id: String) throws(SimulatorFailure) {
        journalNote?.render(id: id, status: nil)
        let job = try ownedRender(token: token, missingAttribution: missingAttribution, id: id, scope: Route.renderDownload.scope)
        try requireCompleted(job)
    }

    /// Checks a signed `outputUrl`: valid for the profile's TTL after completion.
    public func authorizeSignedDownload(id: String, signature: String?, expires: String?) throws(SimulatorFailure) {
        journalNote?.render(id: id, status: nil)
        guard let job = renders[id], let signature, let expires, let deadline = Double(expires),
            signature == downloadSignature(job, expires: expires)
        else {
            throw .http(403, "the download URL's signature is invalid: use /api/render/proxy/{id}/download with your token")
        }
        try requireCompleted(job)
        if now > deadline {
            throw .http(403, "the download URL has expired (valid \(Int(profile.downloadURLTTLSeconds)) s): use /api/render/proxy/\(id)/download with your token")
        }
    }

    private func requireCompleted(_ job: RenderJobState) throws(SimulatorFailure) {
        let status = job.status(at: now)
        guard status == .completed else {
            throw .http(409, "render \(job.id) is \(status.rawValue), not completed: poll its status until completed")
        }
    }

    private func ownedRender(token: String?, missingAttribution: [String], id: String, scope: TokenScope?) throws(SimulatorFailure) -> RenderJobState {
        let userID = try authenticate(token, scope: scope, missingAttribution: missingAttribution)
        guard let job = renders[id], job.userID == userID else {
            throw .http(404, "render \(id) not found: submit it with POST /api/render/proxy/lambda")
        }
        return job
    }

    /// HMAC-SHA256 over `id|expires` with the job's secret: a URL whose
    /// expiry was changed or removed no longer verifies.
    func downloadSignature(_ job: RenderJobState, expires: String) -> String {
        let key = SymmetricKey(data: Data(job.downloadToken.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(job.id)|\(expires)".utf8), using: key)
        return SHA256Hex.hex(mac)
    }

    func report(_ job: RenderJobState) -> RenderJob {
        let now = self.now
        let status = job.status(at: now)
        journalNote?.render(id: job.id, status: status.rawValue)
        var outputURL: String?
        var completedAt: Int64?
        if status == .completed {
            let expires = Int(min(job.endsAt + profile.downloadURLTTLSeconds, 9e15))
            outputURL = "\(advertisedBaseURL)/_nemosim/media/renders/\(Route.encode(job.id)).mp4?expires=\(expires)&signature=\(downloadSignature(job, expires: String(expires)))"
            completedAt = Int64((date(job.endsAt).timeIntervalSince1970 * 1000).rounded())
        }
        return RenderJob(
            id: job.id, status: status, progress: job.progress(at: now), outputURL: outputURL,
            createdAt: Int64((date(job.submittedAt).timeIntervalSince1970 * 1000).rounded()), completedAt: completedAt, success: true,
            message: status == .failed ? "render failed: retry once with a new id" : nil)
    }
}

import Foundation
import NemoCore

extension NemoClient {
    /// A fresh render id, `render_<unique>`.
    public static func newRenderID() -> String {
        "render_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
    }

    /// `POST /api/render/proxy/lambda`. A reused id is retried once with a
    /// new id (when the policy allows).
    public func submitRender(draft: Draft, id: String? = nil, output: RenderRequest.Output = .init()) async throws -> RenderJob {
        try await answer(.submitRender(draft: draft, id: id, output: output)).value
    }

    func answerSubmitRender(draft: Draft, id: String?, output: RenderRequest.Output) async throws -> Answered<RenderJob> {
        try await ensureToken()
        var renderID = id ?? Self.newRenderID()
        var retried = false
        while true {
            let body = try jsonBody(RenderRequest(id: renderID, sessionID: try requireSession(), draft: draft, output: output))
            let response = try await perform(.request(sessionBound: false, issuesToken: false)) {
                ClientRequest(method: "POST", url: url(.renderSubmit), headers: headers(), body: body)
            }
            do {
                return try decodeRender(response, what: "render submit")
            } catch let error as NemoError where error.httpStatus == 409 && policy.retryRender && !retried {
                retried = true
                renderID = Self.newRenderID()
                record(.retriedRender(newID: renderID))
            }
        }
    }

    /// `GET /api/render/proxy/lambda/{id}`, read from either documented shape.
    public func renderStatus(id: String) async throws -> RenderJob { try await answer(.renderStatus(id: id)).value }

    func answerRenderStatus(id: String) async throws -> Answered<RenderJob> {
        try await ensureToken()
        let response = try await perform(.request(sessionBound: false, issuesToken: false)) {
            ClientRequest(method: "GET", url: url(.renderStatus(id: id)), headers: headers())
        }
        return try decodeRender(response, what: "render status")
    }

    /// `POST /api/render/proxy/lambda/{id}/cancel`.
    public func cancelRender(id: String) async throws -> RenderJob {
        try await ensureToken()
        let response = try await perform(.request(sessionBound: false, issuesToken: false)) {
            ClientRequest(method: "POST", url: url(.renderCancel(id: id)), headers: headers())
        }
        return try decodeRender(response, what: "render cancel").value
    }

    /// Polls a render until it is final, at the policy's interval and limit.
    public func waitForRender(id: String, onStatus: @Sendable (RenderJob) -> Void = { _ in }) async throws -> RenderJob {
        try await answerWaitForRender(id: id, onStatus: onStatus).value
    }

    func answerWaitForRender(id: String, onStatus: @Sendable (RenderJob) -> Void) async throws -> Answered<RenderJob> {
        var last = try await answerRenderStatus(id: id)
        onStatus(last.value)
        var polls = 1
        let interval = announced.renderPollSeconds ?? policy.renderPollSeconds
        let limit = announced.maxRenderPolls ?? policy.maxRenderPolls
        while !last.value.status.isFinal {
            guard polls < limit else {
                throw NemoError(
                    kind: .api, message: "render \(id) still \(last.value.status) after \(polls) polls: it may still finish; poll it again later",
                    response: last.response)
            }
            try await wait(interval, reason: "render poll interval")
            last = try await answerRenderStatus(id: id)
            polls += 1
            onStatus(last.value)
        }
        return last
    }

    /// Downloads a finished render to `file`: from its `outputUrl`, falling
    /// back to `/api/render/proxy/{id}/download` when that fails.
    public func download(_ job: RenderJob, to file: URL, progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws {
        // Into a temporary file next to the target, moved into place only on
        // success: a failed export never destroys an existing file.
        let partial = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString).part")
        defer { try? FileManager.default.removeItem(at: partial) }
        func moveIntoPlace() throws { try FileManager.default.moveIntoPlace(partial, at: file) }
        var fallbackReason = "no outputUrl"
        if let outputURL = job.outputURL {
            do {
                let response = try await transport.download(ClientRequest(method: "GET", url: outputURL, timeout: 3600), to: partial, progress: progress)
                if (200..<300).contains(response.status) { return try moveIntoPlace() }
                fallbackReason = "outputUrl answered HTTP \(response.status)"
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // Fall back to the authenticated download below.
                fallbackReason = "outputUrl failed: \(error)"
            }
        }
        guard let id = job.id else {
            throw NemoError(kind: .usage, message: "the render has no id and its outputUrl did not download")
        }
        record(.usedFallbackDownload(reason: fallbackReason))
        try await ensureToken()
        let request = ClientRequest(method: "GET", url: url(.renderDownload(id: id)), headers: headers(), timeout: 3600)
        let response: ClientResponse
        do {
            response = try await transport.download(request, to: partial, progress: progress)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw NemoError(kind: .transport, message: "download of \(id): \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw NemoError(kind: .api, httpStatus: response.status, message: "download of \(id): \(Self.bodySummary(response))", response: response)
        }
        try moveIntoPlace()
    }

    /// The whole export: the draft from state, submit, poll, download.
    /// A failed render is retried once with a new id (when the policy allows).
    public func export(
        to file: URL, onStatus: @Sendable (RenderJob) -> Void = { _ in }, progress: (@Sendable (TransferProgress) -> Void)? = nil
    ) async throws -> RenderJob {
        try await answerExport(to: file, onStatus: onStatus, progress: progress).value
    }

    func answerExport(
        to file: URL, onStatus: @Sendable (RenderJob) -> Void, progress: (@Sendable (TransferProgress) -> Void)?
    ) async throws -> Answered<RenderJob> {
        let state = try await state()
        guard let draft = state.draft, draft.isReadyForExport else {
            throw NemoError(kind: .usage, message: "the draft is empty: send a message that creates a video first")
        }
        var job = try await submitRender(draft: draft)
        onStatus(job)
        var last = try await answerWaitForRender(id: job.id ?? "", onStatus: onStatus)
        if last.value.status == .failed && policy.retryRender {
            let retry = Self.newRenderID()
            record(.retriedRender(newID: retry))
            job = try await submitRender(draft: draft, id: retry)
            last = try await answerWaitForRender(id: job.id ?? retry, onStatus: onStatus)
        }
        guard last.value.status == .completed else {
            throw NemoError(
                kind: .api, message: "render \(last.value.id ?? "?") ended \(last.value.status)\(last.value.message.map { ": \($0)" } ?? "")",
                response: last.response)
        }
        try await download(last.value, to: file, progress: progress)
        return last
    }

    func decodeRender(_ response: ClientResponse, what: String) throws -> Answered<RenderJob> {
        let job: RenderJob
        do {
            job = try JSONDecoder().decode(RenderJob.self, from: response.body)
        } catch {
            throw NemoError(
                kind: (200..<300).contains(response.status) ? .protocolViolation : .api, httpStatus: response.status,
                message: "\(what): \(Self.bodySummary(response))", response: response)
        }
        if job.success == false || !(200..<300).contains(response.status) {
            let code = Self.envelopeCode(response).flatMap { $0.isDocumented ? $0 : nil }
            throw NemoError(kind: .api, code: code, httpStatus: response.status, message: job.message ?? "\(what) failed", response: response)
        }
        return Answered(value: job, response: response)
    }
}

import Foundation
import NemoCore

/// A value of the API and the answer it came in: after the recovery rules,
/// the last answer of the call.
public struct Answered<Value: Sendable>: Sendable {
    public var value: Value
    public var response: ClientResponse

    public init(value: Value, response: ClientResponse) {
        self.value = value
        self.response = response
    }
}

/// One of the client's typed calls, for callers that want the answer as
/// well as the value (`client.answer(.credits)`): the scenario engine
/// checks what each step's own call answered.
public struct NemoCall<Value: Sendable>: Sendable {
    let perform: @Sendable (NemoClient) async throws -> Answered<Value>
}

extension NemoCall where Value == AnonymousToken {
    /// ``NemoClient/issueToken()``.
    public static var issueToken: Self { Self { try await $0.answerIssueToken() } }
}

extension NemoCall where Value == SessionInfo {
    /// ``NemoClient/createSession(taskName:language:)``.
    public static func createSession(taskName: String = "project", language: String = "") -> Self {
        Self { try await $0.answerCreateSession(taskName: taskName, language: language) }
    }
}

extension NemoCall where Value == SessionState {
    /// ``NemoClient/state()``.
    public static var state: Self { Self { try await $0.answerState() } }
}

extension NemoCall where Value == CreditBalance {
    /// ``NemoClient/credits()``.
    public static var credits: Self { Self { try await $0.answerCredits() } }
}

extension NemoCall where Value == UploadResult {
    /// ``NemoClient/upload(files:progress:)``.
    public static func upload(files: [URL], progress: (@Sendable (TransferProgress) -> Void)? = nil) -> Self {
        Self { try await $0.answerUpload(files: files, progress: progress) }
    }

    /// ``NemoClient/upload(urls:)``.
    public static func upload(urls: [String]) -> Self { Self { try await $0.answerUpload(urls: urls) } }
}

extension NemoCall where Value == RenderJob {
    /// ``NemoClient/submitRender(draft:id:output:)``.
    public static func submitRender(draft: Draft, id: String? = nil, output: RenderRequest.Output = .init()) -> Self {
        Self { try await $0.answerSubmitRender(draft: draft, id: id, output: output) }
    }

    /// ``NemoClient/renderStatus(id:)``.
    public static func renderStatus(id: String) -> Self { Self { try await $0.answerRenderStatus(id: id) } }

    /// ``NemoClient/waitForRender(id:onStatus:)``: the last poll's answer.
    public static func waitForRender(id: String) -> Self { Self { try await $0.answerWaitForRender(id: id, onStatus: { _ in }) } }

    /// ``NemoClient/export(to:onStatus:progress:)``: the finished job's last status answer.
    public static func export(to file: URL) -> Self { Self { try await $0.answerExport(to: file, onStatus: { _ in }, progress: nil) } }
}

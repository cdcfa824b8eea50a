import Foundation
import NemoClient

/// Puts `Authorization: Bearer <admin token>` on the requests a run makes
/// to a simulator's admin API (`/_nemosim/...`, but not the signed media
/// downloads under `/_nemosim/media/` nor the public `/_nemosim/health`),
/// replacing any other Authorization header. Health is how a run learns
/// whether the target is a simulator at all: production (which has no
/// health route) never sees the token. It sits under the recorder, so the
/// admin token never reaches a recording.
struct AdminTokenTransport: HTTPTransport {
    let base: any HTTPTransport
    /// `BASE_URL/_nemosim/`.
    let prefix: String
    let token: String

    init(base: any HTTPTransport, baseURL: String, token: String) {
        self.base = base
        prefix = baseURL + "/_nemosim/"
        self.token = token
    }

    func authorized(_ request: ClientRequest) -> ClientRequest {
        guard request.url.hasPrefix(prefix) else { return request }
        let rest = request.url.dropFirst(prefix.count)
        guard !rest.hasPrefix("media/"), rest != "health", !rest.hasPrefix("health?") else { return request }
        var request = request
        request.headers.removeAll { $0.name.caseInsensitiveCompare("Authorization") == .orderedSame }
        request.headers.append((name: "Authorization", value: "Bearer \(token)"))
        return request
    }

    func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        try await base.send(authorized(request), progress: progress)
    }

    func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        base.stream(authorized(request))
    }

    func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        try await base.download(authorized(request), to: file, progress: progress)
    }
}

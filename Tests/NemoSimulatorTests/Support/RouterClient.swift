import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NemoCore
import Synchronization

@testable import NemoSimulator

/// Sends requests straight to a ``SimulatorApp``'s router, with no socket,
/// on a ``ManualSimulationClock``: simulated time moves only when the
/// client drives it, so no test depends on the machine's load.
///
/// (Hummingbird ships `app.test(.router)` in HummingbirdTesting, which
/// needs async-http-client and swift-nio-ssl with BoringSSL: several
/// minutes more for every fresh build. This is the part of it we need.)
struct RouterClient: Sendable {
    let app: SimulatorApp
    let clock: ManualSimulationClock
    var simulation: Simulation { app.simulation }

    init(
        seed: UInt64 = 3, adminToken: String? = nil, profile base: BehaviourProfile = BehaviourProfile(),
        _ configure: (inout BehaviourProfile) -> Void = { _ in }
    ) throws {
        var profile = base
        configure(&profile)
        clock = ManualSimulationClock(timeScale: 1000)
        app = try SimulatorApp(.init(seed: seed, timeScale: 1000, profile: profile, adminToken: adminToken), clock: clock)
    }

    /// A request from `remote` (loopback by default). While it runs, every
    /// sleep on the clock is woken as soon as it starts (simulated time
    /// jumps to it), so an event stream arrives whole, each chunk stamped
    /// with the simulated second it was written.
    func request(
        _ method: HTTPRequest.Method, _ path: String, headers: [String: String] = [:], body: Data? = nil,
        multipart: [MultipartBody]? = nil, remote: String = "127.0.0.1"
    ) async throws -> TestResponse {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        var bytes = body
        if let multipart {
            let boundary = "nemosim-test-boundary-7MA4YWxkTrZu0gW"
            fields[.contentType] = "multipart/form-data; boundary=\(boundary)"
            bytes = try MultipartBody.encode(multipart, boundary: boundary)
        }
        if let bytes { fields[.contentLength] = String(bytes.count) }
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(data: bytes ?? Data())))
        let channel = NIOAsyncTestingChannel()
        channel.remoteAddress = try SocketAddress(ipAddress: remote, port: 40_000)
        let context = SimulatorRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: Logger(label: "test")))
        let start = clock.elapsed
        let clock = self.clock
        let responder = app.responder
        return try await driving {
            let writer = CollectingWriter(clock: clock, start: start)
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                return TestResponse(status: 0, headers: [:], body: Data(), curlCode: -1, chunks: [])
            }
            var headers: [String: String] = [:]
            for field in response.headers { headers[field.name.canonicalName] = field.value }
            var failed = false
            do {
                try await response.body.write(writer)
            } catch {
                failed = true  // cut off mid-body (a dropped stream)
            }
            let chunks = writer.log.chunks.withLock { $0 }
            return TestResponse(
                status: Int(response.status.code), headers: headers, body: chunks.reduce(into: Data()) { $0 += $1.bytes },
                curlCode: failed ? -1 : 0, chunks: chunks)
        }
    }

    /// Runs `body`, waking each sleeper on the clock as it starts sleeping.
    func driving<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let done = Atomic<Bool>(false)
        let task = Task {
            defer { done.store(true, ordering: .releasing) }
            return try await body()
        }
        while !done.load(ordering: .acquiring) {
            if let next = clock.nextWake {
                clock.advance(by: max(next - clock.elapsed, 0.000_001))
            } else {
                try await Task.sleep(for: .microseconds(200))
            }
        }
        return try await task.value
    }

    // MARK: Conveniences

    func get(_ path: String, token: String? = nil, headers: [String: String] = [:]) async throws -> TestResponse {
        try await request(.get, path, headers: Self.auth(token).merging(headers) { _, b in b })
    }

    func post(_ path: String, _ json: JSONValue?, token: String? = nil, headers: [String: String] = [:]) async throws -> TestResponse {
        var all = Self.auth(token).merging(headers) { _, b in b }
        if json != nil { all["Content-Type"] = "application/json" }
        return try await request(.post, path, headers: all, body: json.map { Data($0.jsonString().utf8) })
    }

    func admin(_ method: HTTPRequest.Method, _ path: String, _ json: JSONValue? = nil, headers: [String: String] = [:]) async throws -> TestResponse {
        try await request(method, "/_nemosim" + path, headers: headers, body: json.map { Data($0.jsonString().utf8) })
    }

    /// The attribution headers, and the token when given.
    static func auth(_ token: String?) -> [String: String] {
        var headers = skillHeaders
        if let token { headers["Authorization"] = "Bearer \(token)" }
        return headers
    }

    /// A token and a session.
    func signIn(client: String = UUID().uuidString) async throws -> (token: String, user: String, session: String) {
        let issued = try await request(.post, "/api/auth/anonymous-token", headers: ["X-Client-Id": client])
        guard let token = issued.data?["token"]?.stringValue, let user = issued.data?["user_id"]?.stringValue else {
            throw SignInFailed(response: issued.text)
        }
        let created = try await post("/api/tasks/me/with-session/nemo_agent", ["task_name": "project", "language": "en"], token: token)
        guard let session = created.data?["session_id"]?.stringValue else { throw SignInFailed(response: created.text) }
        return (token, user, session)
    }

    struct SignInFailed: Error { let response: String }

    /// A message on `/run_sse`.
    func send(_ text: String, session: String, token: String, headers: [String: String] = [:]) async throws -> TestResponse {
        try await post(
            "/run_sse", ["app_name": "nemo_agent", "user_id": "me", "session_id": .string(session), "new_message": ["parts": [["text": .string(text)]]]],
            token: token, headers: headers.merging(["Accept": "text/event-stream"]) { a, _ in a })
    }
}

/// Collects a response body, each chunk stamped with the simulated seconds
/// since the request.
struct CollectingWriter: ResponseBodyWriter {
    final class Log: Sendable {
        let chunks = Mutex<[(time: Double, bytes: Data)]>([])
    }

    let clock: ManualSimulationClock
    let start: Double
    let log = Log()

    mutating func write(_ buffer: ByteBuffer) async throws {
        let time = clock.elapsed - start
        log.chunks.withLock { $0.append((time, Data(buffer.readableBytesView))) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

extension MultipartBody {
    /// A multipart/form-data body of these parts.
    static func encode(_ parts: [MultipartBody], boundary: String) throws -> Data {
        var body = Data()
        for part in parts {
            let (name, filename, contentType, bytes): (String, String, String, Data)
            switch part {
            case .file(let n, let f, let path, let type): (name, filename, contentType, bytes) = (n, f, type, try Data(contentsOf: URL(fileURLWithPath: path)))
            case .data(let n, let f, let data, let type): (name, filename, contentType, bytes) = (n, f, type, data)
            }
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8)
            body += bytes + Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return body
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NemoCore
import NemoHTTPServer

extension SimulatorFailure {
    /// The failure an error stands for: a ``SimulatorFailure`` as it is,
    /// Hummingbird's HTTP errors (no such route, a body too large) with
    /// their status, anything unexpected as a 500 that says what happened.
    static func from(_ error: any Error) -> SimulatorFailure {
        switch error {
        case let failure as SimulatorFailure:
            return failure
        case let error as HTTPError:
            return .http(Int(error.status.code), error.body ?? error.status.reasonPhrase)
        default:
            return .http(500, "internal error in the simulator: \(error)")
        }
    }

    /// The JSON answer to this failure in a route's envelope: a code error
    /// is HTTP 200 in `envelope` mode and the code's own status in `http`
    /// mode; an HTTP failure carries its status as the code too.
    func answer(envelope: Route.Envelope, mode: ErrorStatusMode) -> JSONAnswer {
        switch self {
        case .code(let code, let message):
            let status: HTTPResponse.Status = mode == .http ? .init(code: code.httpStatus) : .ok
            return .error(status: status, code: code.rawValue, message: message, envelope: envelope)
        case .http(let status, let message):
            return .error(status: .init(code: status), code: status, message: message, envelope: envelope)
        }
    }
}

extension JSONAnswer {
    /// A render job in the render envelope, in the profile's shape: the
    /// reference's (`data.status`, `data.outputUrl`, `data.createdAt`,
    /// `data.completedAt`), the skill texts' (top-level `status`,
    /// `progress`, `output.url`), or both at once.
    static func render(_ job: RenderJob, shape: RenderShape) -> JSONAnswer {
        var top: [String: JSONValue] = ["success": .bool(job.success ?? true)]
        var data: [String: JSONValue] = [:]
        if let id = job.id { data["id"] = .string(id) }
        if shape != .skill {
            data["status"] = .string(job.status.rawValue)
            if let progress = job.progress { data["progress"] = .number(Double(progress)) }
            if let url = job.outputURL { data["outputUrl"] = .string(url) }
            if let createdAt = job.createdAt { data["createdAt"] = .number(Double(createdAt)) }
            if let completedAt = job.completedAt { data["completedAt"] = .number(Double(completedAt)) }
            if let message = job.message, job.status == .failed { data["error"] = .string(message) }
        }
        if shape != .reference {
            top["status"] = .string(job.status.rawValue)
            if let progress = job.progress { top["progress"] = .number(Double(progress)) }
            if let url = job.outputURL { top["output"] = ["url": .string(url)] }
            if let message = job.message, job.status == .failed { top["message"] = .string(message) }
        }
        top["data"] = .object(data)
        return json(.object(top), code: 0)
    }
}

/// Builds responses for the router out of line: a connection's task keeps
/// the deepest async stack it reached while it lives, and inlined, these
/// answers' temporaries sit in frames every open stream keeps (measured:
/// 10 MiB more for 10,000 streams).
enum Responses {
    @inline(never) static func success<T: Encodable>(_ data: T) -> Response {
        JSONAnswer.success(data).response
    }

    @inline(never) static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        JSONAnswer.json(value, status: status).response
    }

    @inline(never) static func render(_ job: RenderJob, shape: RenderShape) -> Response {
        JSONAnswer.render(job, shape: shape).response
    }

    /// An MP4 file (a finished render).
    @inline(never) static func mp4(_ file: ByteBuffer, id: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "video/mp4",
                .contentDisposition: "attachment; filename=\"\(id.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }).mp4\"",
            ],
            body: .init(byteBuffer: file))
    }
}

extension HTTPFields {
    /// The bearer token, if any (`Authorization: Bearer <token>`, scheme
    /// case-insensitive). On every request, so it avoids Foundation.
    var bearerToken: String? {
        self[.authorization].flatMap(Self.bearerToken(in:))
    }

    /// The token in an `Authorization` value (`Bearer <token>`), if any.
    static func bearerToken(in value: String) -> String? {
        let utf8 = value.utf8
        guard utf8.count > 7 else { return nil }
        var index = utf8.startIndex
        for expected in "bearer".utf8 {
            guard utf8[index] | 0x20 == expected else { return nil }
            index = utf8.index(after: index)
        }
        guard utf8[index] == UInt8(ascii: " ") else { return nil }
        while index < utf8.endIndex, utf8[index] == UInt8(ascii: " ") { index = utf8.index(after: index) }
        var end = utf8.endIndex
        while end > index, utf8[utf8.index(before: end)] == UInt8(ascii: " ") { end = utf8.index(before: end) }
        return index < end ? String(value[index..<end]) : nil
    }
}

/// What the HTTP front needs from a request's headers, read in one pass
/// (each `HTTPFields` lookup walks every field): by the front middleware on
/// every request, and by the event loop's answers (``PolledRouteHandler``).
struct HeaderScan {
    /// The attribution headers that are missing or empty, in their order.
    var missingAttribution: [String] = []
    /// The first `X-Nemosim-Fault` value, if any.
    var fault: String?
    /// The `Authorization` value (the token is parsed only when asked for).
    var authorization: String?
    /// `Connection: close`.
    var closes = false
    /// A body is declared (`Content-Length` above 0, or `Transfer-Encoding`).
    var hasBody = false
    /// `Authorization` or `Connection` came more than once (Hummingbird reads
    /// such values joined, which the event loop's answers do not reproduce).
    var repeatsFields = false

    /// The bearer token, if any (see ``HTTPFields/bearerToken(in:)``).
    var token: String? { authorization.flatMap(HTTPFields.bearerToken(in:)) }

    static let faultField = HTTPField.Name("X-Nemosim-Fault")!
    static let attributionFields = AttributionHeaders.names.map { HTTPField.Name($0)! }

    init(_ fields: HTTPFields) {
        var present: UInt8 = 0  // a bit per attribution header
        var (authorizations, connections) = (0, 0)
        for field in fields {
            switch field.name {
            case .authorization:
                authorizations += 1
                authorization = field.value
            case .connection:
                connections += 1
                closes = field.value == "close"
            case .contentLength: hasBody = hasBody || field.value != "0"
            case .transferEncoding: hasBody = true
            case Self.faultField: fault = fault ?? field.value
            default:
                if let index = Self.attributionFields.firstIndex(of: field.name), !field.value.isEmpty { present |= 1 << index }
            }
        }
        repeatsFields = authorizations > 1 || connections > 1
        if present != (1 << Self.attributionFields.count) - 1 {
            for index in Self.attributionFields.indices where present & (1 << index) == 0 { missingAttribution.append(AttributionHeaders.names[index]) }
        }
    }
}

extension Request {
    /// The bearer token, if any (see ``HTTPFields/bearerToken``).
    var bearerToken: String? { headers.bearerToken }

    /// The attribution headers this request lacks (or has empty).
    var missingAttribution: [String] { HeaderScan(headers).missingAttribution }

    /// Reads the body (up to the context's limit) as JSON of type `T`, or
    /// throws a 400 that says what is wrong and gives an example.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: SimulatorRequestContext, example: String) async throws(SimulatorFailure) -> T {
        try Self.decodeJSON(type, from: try await collectBody(context), example: example)
    }

    /// The whole body, up to the context's limit for JSON bodies.
    func collectBody(_ context: SimulatorRequestContext) async throws(SimulatorFailure) -> ByteBuffer {
        do {
            return try await body.collect(upTo: context.maxUploadSize)
        } catch {
            throw .badRequest("request body unreadable or larger than \(context.maxUploadSize) bytes: \(error)")
        }
    }

    /// Decodes a collected body as JSON of type `T` (parsed once), or
    /// throws a 400 that says what is wrong and gives an example.
    static func decodeJSON<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, example: String) throws(SimulatorFailure) -> T {
        JournalNote.current?.body(buffer)
        if buffer.readableBytes == 0 {
            throw .badRequest("request body is empty: expected JSON like \(example)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty && context.underlyingError != nil {
            throw .badRequest("request body is not valid JSON: expected JSON like \(example)")
        } catch {
            throw .badRequest("request body does not have the expected shape (\(BehaviourProfile.describe(error))): expected JSON like \(example)")
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NemoCore

/// A response held whole in memory: what the router returns, and what the
/// event loop writes itself for the polled routes (``PolledRoute``). Both
/// build it with the same functions, so the two paths answer alike.
struct Answer: Sendable {
    var status: HTTPResponse.Status
    /// The envelope code, for the journal.
    var code: Int?
    /// JSON (every answer is).
    var body: ByteBuffer

    static let contentType = "application/json; charset=utf-8"

    /// As a Hummingbird response (which adds `Content-Length` and `Date`),
    /// the code in ``Responses/codeField`` for the front middleware.
    var response: Response {
        var headers: HTTPFields = [.contentType: Self.contentType]
        if let code { headers[Responses.codeField] = String(code) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, code: Int? = nil) -> Answer {
        Answer(status: status, code: code, body: ByteBuffer(string: value.jsonString()))
    }

    private struct SuccessEnvelope<T: Encodable>: Encodable {
        let code = 0
        let message = "success"
        let data: T
    }

    /// `{"code": 0, "message": "success", "data": ...}`, encoded in one pass.
    static func success<T: Encodable>(_ data: T) -> Answer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let body = try? encoder.encode(SuccessEnvelope(data: data)) else {
            return failure(SimulatorFailure.http(500, "internal error: could not encode the response"), mode: .envelope)
        }
        return Answer(status: .ok, code: 0, body: ByteBuffer(bytes: body))
    }

    /// `{"code": 0, "message": "success", "data": <dataJSON>}` from JSON text
    /// already made (the hot, polled endpoints skip the encoder).
    static func success(dataJSON: String) -> Answer {
        Answer(status: .ok, code: 0, body: ByteBuffer(string: #"{"code":0,"message":"success","data":"# + dataJSON + "}"))
    }

    /// A failure in the envelope shape, with the status the error mode gives.
    static func failure(_ error: any Error, mode: ErrorStatusMode) -> Answer {
        switch SimulatorFailure.from(error) {
        case .code(let code, let message):
            let status: HTTPResponse.Status = mode == .http ? .init(code: code.httpStatus) : .ok
            return json(["code": .number(Double(code.rawValue)), "message": .string(message), "data": .null], status: status, code: code.rawValue)
        case .http(let status, let message):
            return json(["code": .number(Double(status)), "message": .string(message), "data": .null], status: .init(code: status), code: status)
        }
    }

    /// A render envelope: `{"success": true, "data": ...}` in the profile's shape.
    static func render(_ job: RenderJob, shape: RenderShape) -> Answer {
        var value = job.wireValue
        if case .object(var top) = value {
            switch shape {
            case .both: break
            case .vendor:
                top["status"] = nil
                top["progress"] = nil
                top["output"] = nil
            case .skill:
                top["data"] = ["id": job.id.map(JSONValue.string) ?? .null]
            }
            value = .object(top)
        }
        return json(value, code: 0)
    }

    /// A render-endpoint failure: `{"success": false, "message": ..., "code": ...}`.
    static func renderFailure(_ error: any Error, mode: ErrorStatusMode) -> Answer {
        switch SimulatorFailure.from(error) {
        case .code(let code, let message):
            let status: HTTPResponse.Status = mode == .http ? .init(code: code.httpStatus) : .ok
            return json(["success": false, "message": .string(message), "code": .number(Double(code.rawValue))], status: status, code: code.rawValue)
        case .http(let status, let message):
            return json(["success": false, "message": .string(message), "code": .number(Double(status))], status: .init(code: status), code: status)
        }
    }
}

/// Builds the simulator's responses for the router: envelopes, render
/// envelopes, errors (see ``Answer``).
enum Responses {
    /// An internal header carrying the envelope code to the journal; the
    /// front middleware removes it before the response leaves.
    static let codeField = HTTPField.Name("X-Nemosim-Internal-Code")!

    @inline(never) static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, code: Int? = nil) -> Response {
        Answer.json(value, status: status, code: code).response
    }

    @inline(never) static func success<T: Encodable>(_ data: T) -> Response {
        Answer.success(data).response
    }

    @inline(never) static func success(dataJSON: String) -> Response {
        Answer.success(dataJSON: dataJSON).response
    }

    @inline(never) static func failure(_ error: any Error, mode: ErrorStatusMode) -> Response {
        Answer.failure(error, mode: mode).response
    }

    @inline(never) static func render(_ job: RenderJob, shape: RenderShape) -> Response {
        Answer.render(job, shape: shape).response
    }

    @inline(never) static func renderFailure(_ error: any Error, mode: ErrorStatusMode) -> Response {
        Answer.renderFailure(error, mode: mode).response
    }

    /// A plain 400 for malformed input, in the envelope shape.
    @inline(never) static func badRequest(_ message: String) -> Response {
        failure(SimulatorFailure.http(400, message), mode: .envelope)
    }
}

extension SimulatorFailure {
    /// The failure an error stands for; anything unexpected is a 500 that says what happened.
    static func from(_ error: any Error) -> SimulatorFailure {
        (error as? SimulatorFailure) ?? .http(500, "internal error in the simulator: \(error)")
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

    init(_ fields: HTTPFields) {
        var present = [Bool](repeating: false, count: AttributionHeaders.fieldNames.count)
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
            case FrontMiddleware.faultHeader: fault = fault ?? field.value
            default:
                if let index = AttributionHeaders.fieldNames.firstIndex(of: field.name), !field.value.isEmpty { present[index] = true }
            }
        }
        repeatsFields = authorizations > 1 || connections > 1
        for index in present.indices where !present[index] { missingAttribution.append(AttributionHeaders.names[index]) }
    }
}

extension AttributionHeaders {
    /// ``names`` as header field names.
    static let fieldNames = names.map { HTTPField.Name($0)! }
}

extension Request {
    /// The bearer token, if any (see ``HTTPFields/bearerToken``).
    var bearerToken: String? { headers.bearerToken }

    /// The attribution headers this request lacks (or has empty).
    var missingAttribution: [String] { HeaderScan(headers).missingAttribution }

    /// Reads the body as JSON of type `T`, or explains what is wrong.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: SimulatorRequestContext, example: String) async -> Result<T, SimulatorFailure> {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch {
            return .failure(.badRequest("request body unreadable or larger than \(context.maxUploadSize) bytes: \(error)"))
        }
        return Self.decodeJSON(type, from: buffer, example: example)
    }

    /// Decodes a collected body as JSON of type `T`, or explains what is wrong.
    static func decodeJSON<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, example: String) -> Result<T, SimulatorFailure> {
        if buffer.readableBytes == 0 {
            return .failure(.badRequest("request body is empty: expected JSON like \(example)"))
        }
        let data = Data(buffer.readableBytesView)
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            return .failure(.badRequest("request body is not valid JSON: expected JSON like \(example)"))
        }
        do {
            return .success(try JSONDecoder().decode(T.self, from: data))
        } catch {
            return .failure(.badRequest("request body does not have the expected shape (\(BehaviourProfile.describe(error))): expected JSON like \(example)"))
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore

/// A JSON answer held whole in memory, with the envelope code it carries
/// (for the journal). The one place where the servers' envelopes are
/// written: the simulator's API and admin API, the event loop's answers
/// and the replay server all build theirs here.
public struct JSONAnswer: Sendable {
    public var status: HTTPResponse.Status
    /// The envelope code, when the answer has one.
    public var code: Int?
    public var body: ByteBuffer

    public static let contentType = "application/json; charset=utf-8"

    public init(status: HTTPResponse.Status, code: Int?, body: ByteBuffer) {
        self.status = status
        self.code = code
        self.body = body
    }

    /// As a Hummingbird response (which adds `Content-Length` and `Date`).
    public var response: Response {
        Response(status: status, headers: [.contentType: Self.contentType], body: .init(byteBuffer: body))
    }

    /// Any JSON value, with sorted keys.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, code: Int? = nil) -> JSONAnswer {
        JSONAnswer(status: status, code: code, body: ByteBuffer(string: value.jsonString()))
    }

    private struct SuccessEnvelope<T: Encodable>: Encodable {
        let code = 0
        let message = "success"
        let data: T
    }

    /// `{"code": 0, "data": ..., "message": "success"}`, encoded in one
    /// pass, keys sorted (every answer is the same bytes for the same state).
    public static func success<T: Encodable>(_ data: T) -> JSONAnswer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(SuccessEnvelope(data: data)) else {
            return error(status: .internalServerError, code: 500, message: "internal error: could not encode the response", envelope: .standard)
        }
        return JSONAnswer(status: .ok, code: 0, body: ByteBuffer(bytes: body))
    }

    /// `{"code": 0, "data": <dataJSON>, "message": "success"}` from JSON
    /// text already made (the hot, polled endpoints skip the encoder); the
    /// same bytes as ``success(_:)`` when `dataJSON` has sorted keys.
    public static func success(dataJSON: String) -> JSONAnswer {
        success(dataCapacity: dataJSON.utf8.count) { $0.writeString(dataJSON) }
    }

    /// ``success(dataJSON:)`` with the data's JSON text written straight
    /// into the body (about `dataCapacity` bytes): one buffer, no string
    /// built on the way (the credits answer, the most polled).
    public static func success(dataCapacity: Int, writeData: (inout ByteBuffer) -> Void) -> JSONAnswer {
        var body = ByteBufferAllocator().buffer(capacity: dataCapacity + 40)
        body.writeStaticString(#"{"code":0,"data":"#)
        writeData(&body)
        body.writeStaticString(#","message":"success"}"#)
        return JSONAnswer(status: .ok, code: 0, body: body)
    }

    /// An error in a route's envelope: `{"code": N, "message": ..., "data":
    /// null}` (or `data` when given), or for the render endpoints
    /// `{"success": false, "message": ..., "code": N}`.
    public static func error(
        status: HTTPResponse.Status, code: Int, message: String, envelope: Route.Envelope, data: JSONValue? = nil
    ) -> JSONAnswer {
        switch envelope {
        case .standard:
            return json(["code": .number(Double(code)), "message": .string(message), "data": data ?? .null], status: status, code: code)
        case .render:
            return json(["success": false, "message": .string(message), "code": .number(Double(code))], status: status, code: code)
        }
    }
}

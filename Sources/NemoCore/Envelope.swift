/// The response envelope of every endpoint but render:
/// `{"code": 0, "message": "...", "data": {...}}`.
///
/// Tolerant: a missing `message` reads as empty, a missing or null `data` as
/// nil, a numeric string `code` as its number; unknown fields are ignored.
public struct Envelope<Payload>: Sendable where Payload: Sendable {
    public var code: ErrorCode
    public var message: String
    public var data: Payload?

    public init(code: ErrorCode = .success, message: String = "success", data: Payload?) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var isSuccess: Bool { code == .success }

    private enum CodingKeys: String, CodingKey { case code, message, msg, data }
}

extension Envelope: Decodable where Payload: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decodeIfPresent(ErrorCode.self, forKey: .code) ?? .success
        message = (try? container.decodeIfPresent(String.self, forKey: .message))
            ?? (try? container.decodeIfPresent(String.self, forKey: .msg)) ?? ""
        if code == .success {
            data = try container.decodeIfPresent(Payload.self, forKey: .data)
        } else {
            // An error envelope's data is informational; never fail on it.
            data = try? container.decodeIfPresent(Payload.self, forKey: .data)
        }
    }
}

extension Envelope: Encodable where Payload: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
        if let data {
            try container.encode(data, forKey: .data)
        } else {
            try container.encodeNil(forKey: .data)
        }
    }
}

extension Envelope: Equatable where Payload: Equatable {}

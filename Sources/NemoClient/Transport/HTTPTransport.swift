import Foundation

/// An HTTP request as the client makes it.
public struct ClientRequest: Sendable {
    public var method: String
    public var url: String
    /// In order; names as written.
    public var headers: [(name: String, value: String)]
    public var body: HTTPRequestBody
    /// Overall time limit for the whole exchange, seconds (nil: the transport's default).
    public var timeout: Double?

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: HTTPRequestBody = .none, timeout: Double? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// The value of the first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// What a request sends.
public enum HTTPRequestBody: Sendable {
    case none
    case data(Data, contentType: String)
    /// multipart/form-data; file parts are streamed from disk, never read whole.
    case multipart([MultipartPart])
    /// A body streamed from a file as it is (e.g. a proxied request).
    case file(path: String, contentType: String)
}

/// One part of a multipart/form-data body.
public struct MultipartPart: Sendable {
    public enum Source: Sendable {
        /// Streamed from this file.
        case file(path: String)
        case data(Data)
    }

    public var name: String
    public var filename: String?
    public var contentType: String?
    public var source: Source

    public init(name: String, filename: String?, contentType: String?, source: Source) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.source = source
    }
}

/// A response with its whole body.
public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(status: Int, headers: [(name: String, value: String)], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// A streamed response: its head once, then body chunks as they arrive.
public enum HTTPStreamPart: Sendable {
    case head(status: Int, headers: [(name: String, value: String)])
    case body(Data)
}

/// Progress of a transfer, in bytes.
public struct TransferProgress: Sendable, Hashable {
    public var uploaded: Int64
    public var uploadTotal: Int64
    public var downloaded: Int64
    public var downloadTotal: Int64
}

/// A transport failure (no HTTP response, or the transfer broke off).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case couldNotConnect, timedOut, tls, cutOff, cancelled, invalidRequest, file, other
        /// The answer was larger than the transport holds in memory.
        case tooLarge
    }

    public var kind: Kind
    public var message: String
    /// libcurl's result code, when it came from libcurl.
    public var curlCode: Int?

    public init(kind: Kind, message: String, curlCode: Int? = nil) {
        self.kind = kind
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String { message }
}

/// How the client talks HTTP. The libcurl transport is the real one;
/// recording and replay wrap or replace it.
public protocol HTTPTransport: Sendable {
    /// Sends a request and returns the whole response.
    func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse

    /// Sends a request and streams the response as it arrives. Cancelling
    /// the consuming task (or dropping the stream) aborts the transfer.
    func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error>

    /// Sends a request and writes the response body to `file` as it
    /// arrives; returns the response with an empty body.
    func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse
}

extension HTTPTransport {
    public func send(_ request: ClientRequest) async throws -> ClientResponse {
        try await send(request, progress: nil)
    }
}

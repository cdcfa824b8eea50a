import Foundation
import NemoClient
import NemoCore
import ServerSentEvents
import Synchronization

/// A transport decorator that records every exchange (event-stream timing
/// included) through a ``RecordingWriter``, one completed exchange at a time.
public final class RecordingTransport: HTTPTransport, Sendable {
    public let base: any HTTPTransport
    public let writer: RecordingWriter
    /// Downloads up to this size are recorded whole (base64 when binary), so
    /// a replay serves the same bytes; larger ones only by their size.
    public let maxRecordedDownloadBytes: Int

    /// What exchange times and event offsets are measured in.
    public let clock: any RecordingClock

    public init(base: any HTTPTransport, writer: RecordingWriter, maxRecordedDownloadBytes: Int = 1 << 20, clock: any RecordingClock = .continuous) {
        self.base = base
        self.writer = writer
        self.maxRecordedDownloadBytes = maxRecordedDownloadBytes
        self.clock = clock
    }

    public func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        writer.begin(method: request.method, url: request.url)
        let started = Date()
        let start = clock.nowMs
        do {
            let response = try await base.send(request, progress: progress)
            record(request, started: started, elapsed: ms(since: start), status: response.status, headers: response.headers, body: response.body)
            return response
        } catch {
            record(request, started: started, elapsed: ms(since: start), status: 0, headers: [], body: Data(), ending: .failed("\(error)"))
            throw error
        }
    }

    public func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        writer.begin(method: request.method, url: request.url)
        let started = Date()
        let start = clock.nowMs
        do {
            let response = try await base.download(request, to: file, progress: progress)
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
            let succeeded = (200..<300).contains(response.status)
            if succeeded && size <= maxRecordedDownloadBytes, let bytes = try? Data(contentsOf: file) {
                record(request, started: started, elapsed: ms(since: start), status: response.status, headers: response.headers, body: bytes)
            } else {
                record(
                    request, started: started, elapsed: ms(since: start), status: response.status, headers: response.headers,
                    body: response.body, savedBytes: succeeded ? size : nil)
            }
            return response
        } catch {
            record(request, started: started, elapsed: ms(since: start), status: 0, headers: [], body: Data(), ending: .failed("\(error)"))
            throw error
        }
    }

    public func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        writer.begin(method: request.method, url: request.url)
        let upstream = base.stream(request)
        let started = Date()
        let start = clock.nowMs
        let (stream, continuation) = AsyncThrowingStream<HTTPStreamPart, any Error>.makeStream()
        let task = Task {
            var status = 0
            var headers: [(name: String, value: String)] = []
            var body = Data()
            var items: [RecordedStreamItem] = []
            var parser = ServerSentEventParser()
            var ending = ExchangeEnding.closed
            var failure: (any Error)?
            do {
                for try await part in upstream {
                    switch part {
                    case .head(let code, let fields):
                        status = code
                        headers = fields
                    case .body(let data):
                        body.append(data)
                        let offset = ms(since: start)
                        for item in parser.feed(data) { items.append(Self.item(item, offsetMs: offset)) }
                    }
                    continuation.yield(part)
                }
                // The consumer left (a client-side timeout) and the transfer was aborted.
                if Task.isCancelled { ending = .cancelled }
            } catch is CancellationError {
                ending = .cancelled
                failure = CancellationError()
            } catch {
                ending = .dropped("\(error)")
                failure = error
            }
            // Recorded before the consumer sees the end, so exchanges are
            // written in the order they completed.
            let isStream = headers.contains { $0.name.lowercased() == "content-type" && $0.value.lowercased().hasPrefix("text/event-stream") }
            record(
                request, started: started, elapsed: ms(since: start), status: status, headers: headers, body: body,
                eventStream: isStream ? items : nil, ending: isStream || ending != .closed ? ending : nil)
            if let failure { continuation.finish(throwing: failure) } else { continuation.finish() }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return stream
    }

    static func item(_ item: ServerSentEventItem, offsetMs: Double) -> RecordedStreamItem {
        switch item {
        case .event(let event):
            return RecordedStreamItem(
                kind: .event, offsetMs: offsetMs, id: event.lastEventID.isEmpty ? nil : event.lastEventID,
                event: event.type == "message" ? nil : event.type, data: event.data)
        case .comment(let text):
            return RecordedStreamItem(kind: .comment, offsetMs: offsetMs, data: text)
        case .retry(let milliseconds):
            return RecordedStreamItem(kind: .retry, offsetMs: offsetMs, data: String(milliseconds))
        }
    }

    func ms(since start: Double) -> Double {
        ((clock.nowMs - start) * 1000).rounded() / 1000
    }

    private func record(
        _ request: ClientRequest, started: Date, elapsed: Double, status: Int, headers: [(name: String, value: String)], body: Data,
        eventStream: [RecordedStreamItem]? = nil, savedBytes: Int? = nil, ending: ExchangeEnding? = nil
    ) {
        let entry = HAREntryBuilder.entry(
            request: request, started: started, elapsed: elapsed, status: status, headers: headers, body: body, eventStream: eventStream,
            savedBytes: savedBytes, ending: ending)
        // A recording must never break the session it records: a failed
        // write is reported on stderr and the exchange goes on.
        do {
            try writer.append(entry)
        } catch {
            FileHandle.standardError.write(Data("nemosim: recording failed: \(error)\n".utf8))
        }
    }
}

/// Builds HAR entries from exchanges.
public enum HAREntryBuilder {
    public static func entry(
        request: ClientRequest, started: Date, elapsed: Double, status: Int, headers: [(name: String, value: String)], body: Data,
        eventStream: [RecordedStreamItem]? = nil, savedBytes: Int? = nil, ending: ExchangeEnding? = nil
    ) -> HAREntry {
        let requestHeaders = request.headers.map { HARHeader(name: $0.name, value: $0.value) }
        let query = URLComponents(string: request.url)?.queryItems?.map { HARHeader(name: $0.name, value: $0.value ?? "") } ?? []
        var postData: HARPostData?
        var bodySize = 0
        switch request.body {
        case .none: break
        case .data(let data, let type):
            // Multipart bodies carry file bytes: their size is recorded, not their content.
            postData = HARPostData(mimeType: type, text: type.lowercased().hasPrefix("multipart/") ? "" : String(decoding: data, as: UTF8.self))
            bodySize = data.count
        case .file(let path, let type):
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let small = size < 1 << 20 && !type.lowercased().hasPrefix("multipart/")
            postData = HARPostData(mimeType: type, text: small ? (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" : "")
            bodySize = size
        case .multipart(let parts):
            let params = parts.map { part -> HARParam in
                var size: Int?
                switch part.source {
                case .file(let path): size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
                case .data(let data): size = data.count
                }
                return HARParam(name: part.name, fileName: part.filename, contentType: part.contentType, value: size.map { "<\($0) bytes, not recorded>" })
            }
            postData = HARPostData(mimeType: "multipart/form-data", text: "", params: params)
            bodySize = -1
        }
        let mimeType = headers.first { $0.name.lowercased() == "content-type" }?.value ?? (body.isEmpty ? "" : "application/octet-stream")
        let content: HARContent
        if let savedBytes {
            content = HARContent(size: savedBytes, mimeType: mimeType, text: nil, comment: "body saved to a file by the client; not recorded")
        } else if let text = String(data: body, encoding: .utf8) {
            content = HARContent(size: body.count, mimeType: mimeType, text: text)
        } else {
            content = HARContent(size: body.count, mimeType: mimeType, text: body.base64EncodedString(), encoding: "base64")
        }
        let firstByte = eventStream?.first?.offsetMs ?? elapsed
        return HAREntry(
            startedDateTime: ISO8601Millis.string(started), time: elapsed,
            request: HARRequest(method: request.method, url: request.url, headers: requestHeaders, queryString: query, postData: postData, bodySize: bodySize),
            response: HARResponse(
                status: status, statusText: HTTPStatusText.text(status), headers: headers.map { HARHeader(name: $0.name, value: $0.value) }, content: content,
                bodySize: savedBytes ?? body.count),
            timings: HARTimings(send: 0, wait: firstByte, receive: max(0, elapsed - firstByte)), eventStream: eventStream, ending: ending)
    }
}

enum ISO8601Millis {
    static func string(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

enum HTTPStatusText {
    static func text(_ status: Int) -> String {
        switch status {
        case 0: return ""
        case 200: return "OK"
        case 201: return "Created"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 409: return "Conflict"
        case 413: return "Payload Too Large"
        case 415: return "Unsupported Media Type"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        default: return ""
        }
    }
}

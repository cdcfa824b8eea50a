import CCurl
import Foundation
import NemoCore
import ServerSentEvents

/// A minimal libcurl client for the simulator's HTTP tests (the real client
/// is NemoClient's; these tests only need bytes on a real socket). Each
/// transfer runs on its own thread so it never blocks the concurrency pool
/// the server's handlers run on.
struct TestResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
    /// libcurl's result: CURLE_OK (0) unless the transfer failed.
    var curlCode: Int
    /// Event-stream bodies: each chunk's arrival, in seconds since the request.
    var chunks: [(time: Double, bytes: Data)]

    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
    var text: String { String(decoding: body, as: UTF8.self) }
    var code: Int? { json["code"]?.intValue }
    var data: JSONValue? { json["data"] }

    /// Parsed event-stream items, in order.
    var sseItems: [ServerSentEventItem] {
        var parser = ServerSentEventParser()
        return parser.feed(body)
    }

    var sseEvents: [ServerSentEvent] {
        sseItems.compactMap { if case .event(let event) = $0 { return event } else { return nil } }
    }

    var agentEvents: [AgentEvent] { sseItems.flatMap(AgentEventDecoder.events(from:)) }
}

enum MultipartBody {
    case file(name: String, filename: String, path: String, contentType: String)
    case data(name: String, filename: String, bytes: Data, contentType: String)
}

final class TransferState: @unchecked Sendable {
    var body = Data()
    var headers: [String: String] = [:]
    var chunks: [(time: Double, bytes: Data)] = []
    let start = ContinuousClock.now
    var upload: Data = Data()
    var uploadOffset = 0
}

enum CurlTestClient {
    static func request(
        _ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil,
        multipart: [MultipartBody]? = nil, timeout: Double = 30
    ) async -> TestResponse {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: perform(method, url, headers: headers, body: body, multipart: multipart, timeout: timeout))
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Sends JSON.
    static func json(_ method: String, _ url: String, token: String? = nil, headers: [String: String] = [:], _ value: JSONValue?) async -> TestResponse {
        var all = headers
        all["Content-Type"] = "application/json"
        if let token { all["Authorization"] = "Bearer \(token)" }
        return await request(method, url, headers: all, body: value.map { Data($0.jsonString().utf8) })
    }

    private static func perform(
        _ method: String, _ url: String, headers: [String: String], body: Data?, multipart: [MultipartBody]?, timeout: Double
    ) -> TestResponse {
        let handle = curl_easy_init()!
        defer { curl_easy_cleanup(handle) }
        let state = TransferState()
        let opaque = Unmanaged.passUnretained(state).toOpaque()
        _ = nemo_curl_easy_setopt_string(handle, CURLOPT_URL, url)
        _ = nemo_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
        _ = nemo_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = nemo_curl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        if method == "HEAD" { _ = nemo_curl_easy_setopt_long(handle, CURLOPT_NOBODY, 1) }
        var list: UnsafeMutablePointer<curl_slist>?
        // libcurl drops `Name: ` with an empty value; `Name;` sends it empty.
        for (name, value) in headers { list = curl_slist_append(list, value.isEmpty ? "\(name);" : "\(name): \(value)") }
        if body == nil && multipart == nil && method == "POST" { list = curl_slist_append(list, "Content-Length: 0") }
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        _ = nemo_curl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        if let body {
            state.upload = body
            _ = nemo_curl_easy_setopt_long(handle, CURLOPT_UPLOAD, 1)
            _ = nemo_curl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
            _ = nemo_curl_easy_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count))
            _ = nemo_curl_easy_setopt_read_function(handle) { buffer, size, count, user in
                let state = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
                let room = size * count
                let remaining = state.upload.count - state.uploadOffset
                let n = min(room, remaining)
                if n > 0 {
                    state.upload.withUnsafeBytes { raw in
                        buffer!.update(from: raw.baseAddress!.advanced(by: state.uploadOffset).assumingMemoryBound(to: CChar.self), count: n)
                    }
                    state.uploadOffset += n
                }
                return n
            }
            _ = nemo_curl_easy_setopt_pointer(handle, CURLOPT_READDATA, opaque)
        }
        var mime: OpaquePointer?
        if let multipart {
            mime = curl_mime_init(handle)
            for part in multipart {
                let mimePart = curl_mime_addpart(mime)
                switch part {
                case .file(let name, let filename, let path, let type):
                    curl_mime_name(mimePart, name)
                    curl_mime_filedata(mimePart, path)
                    curl_mime_filename(mimePart, filename)
                    curl_mime_type(mimePart, type)
                case .data(let name, let filename, let bytes, let type):
                    curl_mime_name(mimePart, name)
                    bytes.withUnsafeBytes { raw in
                        _ = curl_mime_data(mimePart, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
                    }
                    curl_mime_filename(mimePart, filename)
                    curl_mime_type(mimePart, type)
                }
            }
            _ = nemo_curl_easy_setopt_mime(handle, mime)
            _ = nemo_curl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        }
        defer { if let mime { curl_mime_free(mime) } }
        _ = nemo_curl_easy_setopt_write_function(handle) { pointer, size, count, user in
            let state = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
            let bytes = Data(bytes: pointer!, count: size * count)
            state.body.append(bytes)
            let elapsed = ContinuousClock.now - state.start
            state.chunks.append((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, bytes))
            return size * count
        }
        _ = nemo_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, opaque)
        _ = nemo_curl_easy_setopt_header_function(handle) { pointer, size, count, user in
            let state = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
            let line = String(decoding: UnsafeRawBufferPointer(start: pointer, count: size * count), as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                state.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return size * count
        }
        _ = nemo_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, opaque)
        let result = curl_easy_perform(handle)
        var status = 0
        _ = nemo_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return TestResponse(
            status: status, headers: state.headers, body: state.body, curlCode: Int(result.rawValue), chunks: state.chunks)
    }
}

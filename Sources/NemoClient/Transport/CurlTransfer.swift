import CCurl
import Foundation
import NemoCore
import Synchronization

/// One transfer: its easy handle, what it collects, and how it completes.
/// Its callbacks run on the multi loop's thread only.
final class CurlTransfer: @unchecked Sendable {
    enum Mode {
        /// Collect the body in memory.
        case buffered
        /// Yield the head and body chunks as they arrive.
        case stream(AsyncThrowingStream<HTTPStreamPart, any Error>.Continuation)
        /// Write a 2xx body to a file (other bodies are kept in memory).
        case file(FileHandle)
    }

    let easy: UnsafeMutableRawPointer
    private let mode: Mode
    private let progress: (@Sendable (TransferProgress) -> Void)?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var mime: OpaquePointer?
    /// The file a `.file` body is read from (libcurl's default read function is fread).
    private var bodyFile: UnsafeMutablePointer<FILE>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private var status = 0
    private var headers: [(name: String, value: String)] = []
    private var headDelivered = false
    private var body = Data()
    private var fileError: (any Error)?
    /// The most body bytes held in memory (see `Options.maximumBufferedBytes`).
    private var maximumBufferedBytes = Int.max
    /// Set when the body passed ``maximumBufferedBytes``: the transfer was stopped.
    private var overflowed = false
    private var completion: CheckedContinuation<ClientResponse, any Error>?
    private let state = Mutex<(cancelled: Bool, finished: Bool)>((false, false))
    /// Stream bytes handed to the reader and not yet taken by it: above
    /// ``pauseAbove`` the transfer pauses (libcurl keeps the chunk) until
    /// the reader brings it under ``resumeBelow``. So a server that sends
    /// faster than the reader reads costs a bounded buffer, not the stream.
    private let pending = Atomic<Int>(0)
    /// The transfer is paused (or about to be) for the reader.
    let paused = Atomic<Bool>(false)
    static let pauseAbove = 1 << 20
    static let resumeBelow = 256 << 10

    init(request: ClientRequest, options: CurlTransport.Options, mode: Mode, progress: (@Sendable (TransferProgress) -> Void)?) throws {
        guard let easy = curl_easy_init() else {
            throw TransportError(kind: .other, message: "libcurl could not create a transfer handle")
        }
        self.easy = easy
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        self.mode = mode
        self.progress = progress
        try configure(request, options: options)
    }

    deinit {
        if let headerList { curl_slist_free_all(headerList) }
        if let mime { curl_mime_free(mime) }
        curl_easy_cleanup(easy)
        if let bodyFile { fclose(bodyFile) }
        errorBuffer.deallocate()
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func markCancelled() { state.withLock { $0.cancelled = true } }

    func setCompletion(_ continuation: CheckedContinuation<ClientResponse, any Error>) {
        completion = continuation
    }

    private func configure(_ request: ClientRequest, options: CurlTransport.Options) throws {
        guard let url = URL(string: request.url), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw TransportError(kind: .invalidRequest, message: "not an http(s) URL: \(request.url)")
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = nemo_curl_easy_setopt_string(easy, CURLOPT_URL, request.url)
        _ = nemo_curl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = nemo_curl_easy_setopt_string(easy, CURLOPT_USERAGENT, options.userAgent)
        _ = nemo_curl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, CheckedNumber.clampedInteger(options.connectTimeout * 1000, in: 1...Int(Int32.max)))
        _ = nemo_curl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, CheckedNumber.clampedInteger((request.timeout ?? options.timeout) * 1000, in: 1...Int(Int32.max)))
        let isStream: Bool
        if case .stream = mode { isStream = true } else { isStream = false }
        // Less than 1 byte/s for this long: the server is not answering.
        _ = nemo_curl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1)
        _ = nemo_curl_easy_setopt_long(
            easy, CURLOPT_LOW_SPEED_TIME,
            CheckedNumber.clampedInteger(isStream ? options.streamLowSpeedSeconds : options.lowSpeedSeconds, in: 1...86_400))
        maximumBufferedBytes = options.maximumBufferedBytes
        _ = nemo_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, options.verifyPeer ? 1 : 0)
        _ = nemo_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, options.verifyPeer ? 2 : 0)
        if let caFile = options.caFile { _ = nemo_curl_easy_setopt_string(easy, CURLOPT_CAINFO, caFile) }
        _ = nemo_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)

        var list: UnsafeMutablePointer<curl_slist>?
        for header in request.headers {
            guard HeaderText.isValidName(header.name), HeaderText.isValidValue(header.value) else {
                throw TransportError(
                    kind: .invalidRequest,
                    message: "header \(header.name.debugDescription) has a line break, NUL or (in its name) a colon or space: such a header would inject others, so it is not sent")
            }
            list = curl_slist_append(list, "\(header.name): \(header.value)")
        }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip

        switch request.body {
        case .none:
            if request.method == "POST" || request.method == "PUT" || request.method == "PATCH" {
                _ = nemo_curl_easy_setopt_long(easy, CURLOPT_POSTFIELDSIZE, 0)
                _ = nemo_curl_easy_setopt_string(easy, CURLOPT_POSTFIELDS, "")
            }
        case .data(let data, let contentType):
            list = curl_slist_append(list, "Content-Type: \(contentType)")
            _ = nemo_curl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(data.count))
            if data.isEmpty {
                _ = nemo_curl_easy_setopt_string(easy, CURLOPT_POSTFIELDS, "")
            } else {
                // COPYPOSTFIELDS: libcurl keeps its own copy of the bytes.
                data.withUnsafeBytes { raw in
                    _ = nemo_curl_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress!))
                }
            }
        case .file(let path, let contentType):
            guard let file = fopen(path, "rb") else {
                throw TransportError(kind: .file, message: "cannot read \(path): check the path and permissions")
            }
            bodyFile = file
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            list = curl_slist_append(list, "Content-Type: \(contentType)")
            _ = nemo_curl_easy_setopt_long(easy, CURLOPT_POST, 1)
            _ = nemo_curl_easy_setopt_pointer(easy, CURLOPT_READDATA, file)
            _ = nemo_curl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(size))
        case .multipart(let parts):
            let mime = curl_mime_init(easy)
            self.mime = mime
            for part in parts {
                let handle = curl_mime_addpart(mime)
                curl_mime_name(handle, part.name)
                switch part.source {
                case .file(let path):
                    guard FileManager.default.isReadableFile(atPath: path) else {
                        throw TransportError(kind: .file, message: "cannot read \(path): check the path and permissions")
                    }
                    curl_mime_filedata(handle, path)
                case .data(let data):
                    data.withUnsafeBytes { raw in
                        _ = curl_mime_data(handle, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
                    }
                }
                if let filename = part.filename { curl_mime_filename(handle, filename) }
                if let type = part.contentType { curl_mime_type(handle, type) }
            }
            _ = nemo_curl_easy_setopt_mime(easy, mime)
        }
        headerList = list
        _ = nemo_curl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list)
        switch request.method {
        case "GET": _ = nemo_curl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "POST": break
        case "HEAD": _ = nemo_curl_easy_setopt_long(easy, CURLOPT_NOBODY, 1)
        default: _ = nemo_curl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }

        _ = nemo_curl_easy_setopt_write_function(easy) { pointer, size, count, user in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
            return transfer.received(UnsafeRawBufferPointer(start: pointer, count: size * count))
        }
        _ = nemo_curl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        _ = nemo_curl_easy_setopt_header_function(easy) { pointer, size, count, user in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
            transfer.receivedHeader(UnsafeRawBufferPointer(start: pointer, count: size * count))
            return size * count
        }
        _ = nemo_curl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, me)
        if progress != nil {
            _ = nemo_curl_easy_setopt_long(easy, CURLOPT_NOPROGRESS, 0)
            _ = nemo_curl_easy_setopt_xferinfo_function(easy) { user, downloadTotal, downloaded, uploadTotal, uploaded in
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                transfer.progress?(TransferProgress(
                    uploaded: Int64(uploaded), uploadTotal: Int64(uploadTotal), downloaded: Int64(downloaded), downloadTotal: Int64(downloadTotal)))
                return transfer.isCancelled ? 1 : 0
            }
            _ = nemo_curl_easy_setopt_pointer(easy, CURLOPT_XFERINFODATA, me)
        }
    }

    // MARK: Callbacks (multi loop thread)

    private func receivedHeader(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            // A new response (after 1xx or a redirect) starts over.
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = []
        } else if line.isEmpty {
            if status >= 200, !headDelivered {
                headDelivered = true
                if case .stream(let continuation) = mode {
                    continuation.yield(.head(status: status, headers: headers))
                }
            }
        } else if let colon = line.firstIndex(of: ":") {
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) -> Int {
        if isCancelled { return 0 }  // aborts the transfer
        func keep() -> Bool {
            guard body.count + bytes.count <= maximumBufferedBytes else {
                overflowed = true
                return false
            }
            body.append(contentsOf: bytes)
            return true
        }
        switch mode {
        case .buffered:
            if !keep() { return 0 }  // a short count stops the transfer
        case .stream(let continuation):
            if pending.load(ordering: .acquiring) > Self.pauseAbove {
                paused.store(true, ordering: .sequentiallyConsistent)
                // The reader may have caught up meanwhile: then carry on.
                if pending.load(ordering: .sequentiallyConsistent) > Self.resumeBelow { return NEMO_CURL_WRITEFUNC_PAUSE }
                paused.store(false, ordering: .sequentiallyConsistent)
            }
            pending.add(bytes.count, ordering: .sequentiallyConsistent)
            continuation.yield(.body(Data(bytes)))
        case .file(let handle):
            if (200..<300).contains(status) {
                do {
                    try handle.write(contentsOf: Data(bytes))
                } catch {
                    fileError = error
                    return 0
                }
            } else if !keep() {
                return 0
            }
        }
        return bytes.count
    }

    /// The reader took `count` stream bytes; true when the transfer should
    /// be resumed now (it was paused and the reader caught up).
    func consumed(_ count: Int) -> Bool {
        let left = pending.subtract(count, ordering: .sequentiallyConsistent).newValue
        guard left <= Self.resumeBelow else { return false }
        return paused.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged
    }

    /// Completes the transfer with libcurl's result (once).
    func finish(code: CURLcode, cancelledByUser: Bool) {
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        guard first else { return }
        let error: (any Error)? = {
            if cancelledByUser || isCancelled { return CancellationError() }
            if let fileError { return TransportError(kind: .file, message: "writing the download failed: \(fileError)") }
            if overflowed {
                return TransportError(
                    kind: .tooLarge,
                    message: "the answer was larger than \(maximumBufferedBytes) bytes, more than this API ever sends: stopped reading it (is the URL right?)")
            }
            guard code != CURLE_OK else { return nil }
            return Self.error(code: code, detail: String(cString: errorBuffer))
        }()
        if case .file(let handle) = mode { try? handle.close() }
        switch mode {
        case .stream(let continuation):
            if let error {
                continuation.finish(throwing: error)
            } else {
                if !headDelivered { continuation.yield(.head(status: status, headers: headers)) }
                continuation.finish()
            }
        case .buffered, .file:
            if let error {
                completion?.resume(throwing: error)
            } else {
                completion?.resume(returning: ClientResponse(status: status, headers: headers, body: body))
            }
            completion = nil
        }
    }

    static func error(code: CURLcode, detail: String) -> TransportError {
        let text = String(cString: curl_easy_strerror(code))
        let message = detail.isEmpty ? text : "\(text): \(detail)"
        let kind: TransportError.Kind
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE,
            CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            kind = .tls
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_SEND_ERROR: kind = .cutOff
        case CURLE_ABORTED_BY_CALLBACK: kind = .cancelled
        case CURLE_READ_ERROR: kind = .file
        default: kind = .other
        }
        return TransportError(kind: kind, message: message, curlCode: Int(code.rawValue))
    }
}

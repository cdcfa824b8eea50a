import CCurl
import Foundation
import NemoCore
import Synchronization

/// The libcurl transport: one curl multi handle driven by one thread runs
/// every transfer at once (no thread per transfer), and each call is
/// async/await on top. TLS peers are verified by default; `HTTPS_PROXY`,
/// `NO_PROXY` and friends are honoured as libcurl does.
public final class CurlTransport: HTTPTransport, Sendable {
    /// Transport settings.
    public struct Options: Sendable {
        /// Verify the server's TLS certificate (default true).
        public var verifyPeer: Bool = true
        /// An extra CA bundle (PEM) to trust, e.g. a test CA.
        public var caFile: String?
        /// Seconds to establish a connection.
        public var connectTimeout: Double = 15
        /// Seconds for a whole exchange unless the request says otherwise
        /// (event streams: the documented 15-minute hard limit).
        public var timeout: Double = 900
        public var userAgent: String = "nemosim/" + NemosimVersion.current
        /// A transfer that moves less than 1 byte per second for this long
        /// fails (a server that accepts and never answers fails in this
        /// time, not the whole timeout).
        public var lowSpeedSeconds: Double = 30
        /// The same for event streams, which may be quiet between
        /// heartbeats (the heartbeat watchdog ends a stream of heartbeats
        /// only; this ends one that sends nothing at all).
        public var streamLowSpeedSeconds: Double = 180
        /// The most bytes of an answer held in memory (bodies not written
        /// to a file): beyond it the transfer stops with an error. JSON
        /// answers of this API are a few KiB.
        public var maximumBufferedBytes: Int = 8 << 20

        public init(
            verifyPeer: Bool = true, caFile: String? = nil, connectTimeout: Double = 15, timeout: Double = 900,
            lowSpeedSeconds: Double = 30, streamLowSpeedSeconds: Double = 180, maximumBufferedBytes: Int = 8 << 20
        ) {
            self.verifyPeer = verifyPeer
            self.caFile = caFile
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.lowSpeedSeconds = lowSpeedSeconds
            self.streamLowSpeedSeconds = streamLowSpeedSeconds
            self.maximumBufferedBytes = maximumBufferedBytes
        }
    }

    public let options: Options
    private let loop: CurlMultiLoop
    /// `caFile` added to the system's CA bundle (libcurl's CAINFO replaces
    /// the bundle, so the two are joined into a temporary file).
    private let effectiveOptions: Options
    private let combinedBundle: URL?

    public init(options: Options = Options()) {
        self.options = options
        self.loop = CurlMultiLoop()
        var effective = options
        var combined: URL?
        if let caFile = options.caFile, let extra = try? Data(contentsOf: URL(fileURLWithPath: caFile)) {
            let system = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
                .lazy.compactMap { try? Data(contentsOf: URL(fileURLWithPath: $0)) }.first ?? Data()
            let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-ca-\(UUID().uuidString).pem")
            if (try? (system + Data("\n".utf8) + extra).write(to: bundle)) != nil {
                effective.caFile = bundle.path
                combined = bundle
            }
        }
        self.effectiveOptions = effective
        self.combinedBundle = combined
    }

    deinit {
        loop.stop()
        if let combinedBundle { try? FileManager.default.removeItem(at: combinedBundle) }
    }

    /// Stops the transfer thread; outstanding transfers fail as cancelled.
    public func shutdown() {
        loop.stop()
    }

    public func send(_ request: ClientRequest, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        let transfer = try CurlTransfer(request: request, options: effectiveOptions, mode: .buffered, progress: progress)
        return try await run(transfer)
    }

    public func download(_ request: ClientRequest, to file: URL, progress: (@Sendable (TransferProgress) -> Void)?) async throws -> ClientResponse {
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = try? FileHandle(forWritingTo: file) else {
            throw TransportError(kind: .file, message: "cannot write \(file.path): check the folder exists and is writable")
        }
        let transfer = try CurlTransfer(request: request, options: effectiveOptions, mode: .file(handle), progress: progress)
        return try await run(transfer)
    }

    /// The response as it arrives. The reader sets the pace: when it falls
    /// more than 1 MiB behind, the transfer pauses until it catches up.
    public func stream(_ request: ClientRequest) -> AsyncThrowingStream<HTTPStreamPart, any Error> {
        let (parts, continuation) = AsyncThrowingStream<HTTPStreamPart, any Error>.makeStream()
        let transfer: CurlTransfer
        do {
            transfer = try CurlTransfer(request: request, options: effectiveOptions, mode: .stream(continuation), progress: nil)
        } catch {
            continuation.finish(throwing: error)
            return parts
        }
        let loop = self.loop
        continuation.onTermination = { termination in
            if case .cancelled = termination { loop.cancel(transfer) }
        }
        loop.start(transfer)
        // Pulled by the reader: each body chunk it takes is subtracted from
        // what the transfer has pending, which resumes it when paused.
        let iterator = SendableIterator(parts.makeAsyncIterator())
        return AsyncThrowingStream(unfolding: {
            let part = try await iterator.next()
            if case .body(let data) = part, transfer.consumed(data.count) { loop.resume(transfer) }
            return part
        })
    }

    /// The inner stream's iterator, used by one reader at a time (the
    /// unfolding closure is called serially).
    private final class SendableIterator: @unchecked Sendable {
        private var base: AsyncThrowingStream<HTTPStreamPart, any Error>.AsyncIterator
        init(_ base: AsyncThrowingStream<HTTPStreamPart, any Error>.AsyncIterator) { self.base = base }
        func next() async throws -> HTTPStreamPart? { try await base.next() }
    }

    private func run(_ transfer: CurlTransfer) async throws -> ClientResponse {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ClientResponse, any Error>) in
                transfer.setCompletion(continuation)
                loop.start(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
    }
}

/// The thread that owns the curl multi handle. Every curl call on the multi
/// handle and on the easy handles it holds happens on this thread; other
/// threads only queue work and call `curl_multi_wakeup` (thread-safe in
/// libcurl), which is why this class may be shared across threads.
final class CurlMultiLoop: @unchecked Sendable {
    private struct Queue: @unchecked Sendable {
        var toStart: [CurlTransfer] = []
        var toCancel: [CurlTransfer] = []
        var toResume: [CurlTransfer] = []
        var stopped = false
        /// The multi handle has been freed: no more wakeups.
        var cleanedUp = false
    }

    private let multi: UnsafeMutableRawPointer
    private let queue = Mutex(Queue())

    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return true
    }()

    init() {
        _ = Self.globalInit
        multi = curl_multi_init()
        // The thread holds the loop until stop(), which CurlTransport's deinit calls.
        let thread = Thread { [self] in run() }
        thread.name = "nemosim-curl"
        thread.start()
    }

    func start(_ transfer: CurlTransfer) {
        let stopped = queue.withLock { queue in
            if !queue.stopped {
                queue.toStart.append(transfer)
                curl_multi_wakeup(multi)
            }
            return queue.stopped
        }
        if stopped { transfer.finish(code: CURLE_ABORTED_BY_CALLBACK, cancelledByUser: true) }
    }

    func cancel(_ transfer: CurlTransfer) {
        queue.withLock { queue in
            queue.toCancel.append(transfer)
            if !queue.cleanedUp { curl_multi_wakeup(multi) }
        }
    }

    /// Resumes a transfer paused for its reader.
    func resume(_ transfer: CurlTransfer) {
        queue.withLock { queue in
            queue.toResume.append(transfer)
            if !queue.cleanedUp { curl_multi_wakeup(multi) }
        }
    }

    /// Ends the loop thread; later transfers fail as cancelled. Idempotent.
    func stop() {
        queue.withLock { queue in
            queue.stopped = true
            if !queue.cleanedUp { curl_multi_wakeup(multi) }
        }
    }

    private func run() {
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        while true {
            let (starting, cancelling, resuming, stopped) = queue.withLock { queue in
                defer {
                    queue.toStart.removeAll()
                    queue.toCancel.removeAll()
                    queue.toResume.removeAll()
                }
                return (queue.toStart, queue.toCancel, queue.toResume, queue.stopped)
            }
            for transfer in resuming where active[transfer.easy] === transfer {
                _ = nemo_curl_easy_unpause(transfer.easy)
            }
            for transfer in starting {
                if transfer.isCancelled {
                    transfer.finish(code: CURLE_ABORTED_BY_CALLBACK, cancelledByUser: true)
                    continue
                }
                active[transfer.easy] = transfer
                curl_multi_add_handle(multi, transfer.easy)
            }
            for transfer in cancelling {
                transfer.markCancelled()
                if active.removeValue(forKey: transfer.easy) != nil {
                    curl_multi_remove_handle(multi, transfer.easy)
                    transfer.finish(code: CURLE_ABORTED_BY_CALLBACK, cancelledByUser: true)
                }
            }
            if stopped {
                for (_, transfer) in active {
                    curl_multi_remove_handle(multi, transfer.easy)
                    transfer.finish(code: CURLE_ABORTED_BY_CALLBACK, cancelledByUser: true)
                }
                // Under the lock: no wakeup can reach the freed handle.
                let late = queue.withLock { queue -> [CurlTransfer] in
                    queue.cleanedUp = true
                    curl_multi_cleanup(multi)
                    defer { queue.toStart.removeAll() }
                    return queue.toStart
                }
                for transfer in late { transfer.finish(code: CURLE_ABORTED_BY_CALLBACK, cancelledByUser: true) }
                return
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                if let transfer = active.removeValue(forKey: easy) {
                    curl_multi_remove_handle(multi, easy)
                    transfer.finish(code: code, cancelledByUser: false)
                }
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }
}

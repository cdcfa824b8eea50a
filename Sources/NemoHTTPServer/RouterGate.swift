import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Where a connection's requests meet Hummingbird's router, opened only
/// when a request needs it.
///
/// Hummingbird serves a connection from a Swift task that lives as long as
/// the connection and keeps the memory of the deepest async frames it ever
/// ran (the task allocator keeps its slabs): about 21 KiB for a connection
/// that answered one routed request, and even a task that only waits costs
/// about 2.6 KiB (measured with heaptrack: its first allocator slabs, its
/// task-local link and its cancellation record). A server whose own channel
/// handlers answer some requests on the event loop (the simulator's polled
/// GETs and event streams) opens the gate only for the first request that
/// goes on to the router: then Hummingbird's handlers join the pipeline and
/// its task starts. A connection that never needs the router (one that only
/// ever carries event streams) has neither.
///
/// Without a task, nothing cancels such a connection when the server stops:
/// the handlers that hold it close it themselves, within
/// ``shutdownGrace`` of the quiescing event, and ``RunningHTTPServer/stop()``
/// waits for every connection to close.
public final class RouterGate: ServerChildChannelValue {
    /// What every connection's gate of a server shares (kept once, not per
    /// connection: an open connection pays for every byte of its gate).
    final class Settings: Sendable {
        /// How long a connection may go on serving after the server is
        /// asked to stop (its handlers close it then).
        let shutdownGrace: TimeAmount
        let logger: Logger
        /// Starts Hummingbird's handling of a connection (on demand: in a task of its own).
        let start: (@Sendable (NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Logger) -> Void)?

        /// - Parameter start: nil when the gate opens at setup (the
        ///   connection's task then handles it); otherwise called once when it opens.
        init(
            logger: Logger, shutdownGrace: TimeAmount, start: (@Sendable (NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Logger) -> Void)?
        ) {
            self.logger = logger
            self.shutdownGrace = shutdownGrace
            self.start = start
        }
    }

    /// The async channel of a gate opened at setup, until taken.
    private final class Opened: Sendable {
        let channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
        init(_ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>) { self.channel = channel }
    }

    public let channel: any Channel
    private let settings: Settings
    /// The async channel once opened (for ``LeanHTTP1Channel`` when it opens at setup).
    private let opened = Mutex<Opened?>(nil)
    private let openFlag = Atomic<Bool>(false)

    /// How long a connection may go on serving after the server is asked to
    /// stop (its handlers close it then).
    public var shutdownGrace: TimeAmount { settings.shutdownGrace }

    init(channel: any Channel, settings: Settings) {
        self.channel = channel
        self.settings = settings
    }

    /// Whether the router's handlers are in the pipeline.
    public var isOpen: Bool { openFlag.load(ordering: .relaxed) }

    /// Adds Hummingbird's handlers at the end of the pipeline (after the
    /// handler that calls this) and starts its handling of the connection.
    /// Call it on the channel's event loop before passing a request head
    /// on; calling it again does nothing.
    public func open() throws {
        guard !openFlag.load(ordering: .relaxed) else { return }
        openFlag.store(true, ordering: .relaxed)
        let logger = settings.logger
        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        if let start = settings.start {
            start(asyncChannel, logger)
        } else {
            opened.withLock { $0 = Opened(asyncChannel) }
        }
    }

    /// The async channel opened at setup, taken once.
    func takeOpened() -> NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>? {
        opened.withLock { value in
            defer { value = nil }
            return value?.channel
        }
    }
}

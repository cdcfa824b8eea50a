import Hummingbird
import NIOCore

/// The request context of the simulator's routes: the channel (for the
/// client's address and for disconnect faults) and the fault, if any, that
/// applies to this request.
struct SimulatorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// A fault armed for this request (stall and drop faults reach the
    /// event-stream handler this way).
    var fault: FaultResponse?
    // Keep this context small: it is copied into async frames that every
    // open connection keeps. Adding one array here (the front's missing
    // attribution headers, so that the render route need not scan again)
    // took 10,000 held streams from 283 to 301 MiB, over the 300 MB aim
    // (`scripts/bench/simulator --only streams`).

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// JSON bodies are read whole up to this size; uploads stream instead.
    var maxUploadSize: Int { 8 * 1024 * 1024 }

    /// The client's IP address, for rate limits.
    var clientIP: String {
        channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Whether the client connects over loopback.
    var isLoopback: Bool {
        guard let ip = channel.remoteAddress?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}

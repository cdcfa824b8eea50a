import Foundation
import NemoClient
import NemoCore
import NemoSimulator
import Synchronization

/// Records what the client did on its own.
final class ActionLog: Sendable {
    private let actions = Mutex<[ClientAction]>([])
    func append(_ action: ClientAction) { actions.withLock { $0.append(action) } }
    var all: [ClientAction] { actions.withLock { $0 } }

    var waits: [Double] {
        all.compactMap { if case .waited(let seconds, _) = $0 { return seconds } else { return nil } }
    }
}

/// A simulator on port 0 and a client pointed at it, with the time scale discovered.
struct ClientHarness {
    let server: SimulatorServer
    let client: NemoClient
    let log: ActionLog
    let transport: CurlTransport

    /// The documented rules, except that a stream of heartbeats only is
    /// given a day instead of 10 minutes: at 1000x, 10 minutes is 0.6 s of
    /// real time, which a loaded machine can stall for between two events.
    /// The tests of that timeout set it back.
    static var loadTolerant: RecoveryPolicy {
        var policy = RecoveryPolicy()
        policy.heartbeatOnlyTimeoutSeconds = 86400
        return policy
    }

    static func start(
        timeScale: Double = 1000, seed: UInt64 = 11, policy: RecoveryPolicy = loadTolerant,
        attribution: AttributionHeaders = AttributionHeaders(source: "nemosim-tests", version: "1.0.0", platform: "unknown"),
        profile base: BehaviourProfile = BehaviourProfile(), _ configure: (inout BehaviourProfile) -> Void = { _ in }
    ) async throws -> ClientHarness {
        var profile = base
        // At 1000x the default idle window (an hour) is 3.6 s of real time,
        // which a loaded machine can stall a test for between two calls:
        // a month, whatever the base, unless `configure` sets it.
        profile.sessionIdleTTLSeconds = 30 * 86_400
        configure(&profile)
        let server = try await SimulatorServer.start(.init(seed: seed, timeScale: timeScale, profile: profile))
        let log = ActionLog()
        let transport = CurlTransport()
        let client = NemoClient(
            configuration: ClientConfiguration(baseURL: server.url, clientID: UUID().uuidString, attribution: attribution),
            transport: transport, policy: policy, onAction: { log.append($0) })
        await client.discoverTimeScale()
        return ClientHarness(server: server, client: client, log: log, transport: transport)
    }

    /// Token and session.
    func signIn() async throws {
        try await client.issueToken()
        try await client.createSession()
    }

    func arm(_ method: String?, _ path: String, _ respond: FaultResponse, times: Int = 1) {
        _ = try! server.simulation.faults.arm(FaultRule(match: .init(method: method, path: path), respond: respond, times: times))
    }

    func stop() async {
        transport.shutdown()
        await server.stop()
    }
}

/// A file of `size` bytes in the temporary folder.
func temporaryFile(_ name: String, size: Int, byte: UInt8 = 0x42) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-client-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    _ = FileManager.default.createFile(atPath: url.path, contents: nil)
    let handle = try FileHandle(forWritingTo: url)
    let block = Data(repeating: byte, count: min(size, 1 << 20))
    var written = 0
    while written < size {
        let n = min(block.count, size - written)
        try handle.write(contentsOf: block.prefix(n))
        written += n
    }
    try handle.close()
    return url
}

/// The process's resident memory, in bytes.
func residentMemory() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

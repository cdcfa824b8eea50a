// Client overhead against a running simulator (see scripts/bench/client):
// sequential and 64-concurrent credits calls, and event-stream throughput.
//
//   client-bench --api http://127.0.0.1:PORT [--requests 5000] [--messages 5]
import Foundation
import NemoClient
import NemoCore
import NemoRecording

let sharedTransport = CurlTransport()

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).inSeconds
}

guard let api = option("--api") else {
    FileHandle.standardError.write(Data("usage: client-bench --api URL [--requests N] [--messages N]\n".utf8))
    exit(2)
}
let requests = Int(option("--requests") ?? "") ?? 5000
let messages = Int(option("--messages") ?? "") ?? 5

let transport = sharedTransport
let replayOnly = CommandLine.arguments.contains("--replay")
let client = NemoClient(configuration: ClientConfiguration(baseURL: api), transport: transport)
if !replayOnly {
try await client.issueToken()
try await client.createSession()
_ = try await client.credits()  // warm the connection

var start = ContinuousClock.now
for _ in 0..<requests { _ = try await client.credits() }
let sequential = Double(requests) / seconds(since: start)
print(String(format: "sequential credits calls: %.0f requests/s (%d calls)", sequential, requests))

start = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for _ in 0..<64 {
        group.addTask {
            for _ in 0..<(requests / 64) { _ = try await client.credits() }
        }
    }
    try await group.waitForAll()
}
let concurrent = Double(requests / 64 * 64) / seconds(since: start)
print(String(format: "64-concurrent credits calls: %.0f requests/s (%d calls)", concurrent, requests / 64 * 64))

var events = 0
start = ContinuousClock.now
for index in 0..<messages {
    let outcome = try await client.sendAndWait("make video number \(index)")
    events += outcome.events.count + outcome.heartbeats
}
let streamSeconds = seconds(since: start)
print(String(format: "event streams: %.0f events/s through the client (%d events in %d messages, %.2f s)", Double(events) / streamSeconds, events, messages, streamSeconds))
}

// --- Replay: record a ~15-minute (simulated) session, replay it instantly.
if replayOnly {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-replay-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("session.har")
    let writer = try RecordingWriter(url: file, metadata: RecordingMetadata(toolVersion: "bench", target: api, createdAt: "now"))
    let recordingTransport = RecordingTransport(base: transport2(), writer: writer)
    let recorder = NemoClient(configuration: ClientConfiguration(baseURL: api), transport: recordingTransport)
    await recorder.discoverTimeScale()
    func clockNow() async throws -> Date {
        let response = try await transport2().send(ClientRequest(method: "GET", url: api + "/_nemosim/clock"))
        return ISO8601.date(from: try JSONValue.parse(response.body)["now"]?.stringValue ?? "") ?? Date()
    }
    let simulatedStart = try await clockNow()
    let media = directory.appendingPathComponent("clip.mp4")
    try Data(repeating: 1, count: 100_000).write(to: media)
    try await benchSession(recorder, directory: directory, media: media)
    try writer.close()
    let simulatedMinutes = (try await clockNow()).timeIntervalSince(simulatedStart) / 60
    let recording = try Recording.load(file)
    var noWaits = RecoveryPolicy()
    noWaits.renderPollSeconds = 0
    noWaits.firstStateCheckSeconds = 0
    noWaits.stateCheckEverySeconds = 0
    noWaits.reconnectDelaySeconds = 0
    var times: [Double] = []
    for _ in 0..<5 {
        let replayer = NemoClient(
            configuration: ClientConfiguration(baseURL: "http://replay.invalid"), transport: ReplayTransport(recording: recording, timing: .instant),
            policy: noWaits)
        let start = ContinuousClock.now
        try await benchSession(replayer, directory: directory, media: media)
        times.append(seconds(since: start) * 1000)
    }
    times.sort()
    print(String(format: "replay: a %.1f-minute simulated session (%d exchanges, %d events) replays with instant timing in %.1f ms (median of 5; min %.1f, max %.1f)",
        simulatedMinutes, recording.entries.count, recording.entries.compactMap(\.eventStream).map(\.count).reduce(0, +), times[2], times[0], times[4]))
}

func transport2() -> CurlTransport { sharedTransport }

/// The session the replay benchmark records and replays.
func benchSession(_ client: NemoClient, directory: URL, media: URL) async throws {
    try await client.issueToken()
    try await client.createSession()
    _ = try await client.upload(files: [media])
    _ = try await client.sendAndWait("make a 30-second promo video")
    for edit in ["add a title \"One\"", "add music", "trim it to 20 seconds", "make it louder", "change the title to \"Two\""] {
        _ = try await client.sendAndWait(edit)
    }
    _ = try await client.export(to: directory.appendingPathComponent("out-\(UUID().uuidString).mp4"))
}

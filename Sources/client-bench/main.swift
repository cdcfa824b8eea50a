// Client overhead against a running simulator (see scripts/bench/client):
// sequential and 64-concurrent credits calls, and event-stream throughput.
//
//   client-bench --api http://127.0.0.1:PORT [--requests 5000] [--messages 5]
import Foundation
import NemoClient
import NemoCore

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

guard let api = option("--api") else {
    FileHandle.standardError.write(Data("usage: client-bench --api URL [--requests N] [--messages N]\n".utf8))
    exit(2)
}
let requests = Int(option("--requests") ?? "") ?? 5000
let messages = Int(option("--messages") ?? "") ?? 5

let transport = CurlTransport()
let client = NemoClient(configuration: ClientConfiguration(baseURL: api), transport: transport)
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
    events += outcome.events.count
}
let streamSeconds = seconds(since: start)
print(String(format: "event streams: %.0f events/s through the client (%d events in %d messages, %.2f s)", Double(events) / streamSeconds, events, messages, streamSeconds))
transport.shutdown()

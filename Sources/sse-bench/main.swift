// Event-stream parser throughput on realistic NemoVideo `/run_sse` traffic.
//
//   swift run -c release sse-bench [--megabytes 100] [--chunk 65536] [--runs 3] [--decode]
//
// Prints the best of the runs in MB/s (1 MB = 10^6 bytes). `--decode` also
// turns every event into an `AgentEvent` (JSON decoding included), which is
// what a client pays per event on top of the parser.
import Foundation
import NemoCore
import ServerSentEvents

func option(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    return parsed
}

let megabytes = option("--megabytes", default: 100)
let chunkSize = option("--chunk", default: 65536)
let runs = option("--runs", default: 3)
let decode = CommandLine.arguments.contains("--decode")

/// One operation as the simulator streams it: a tool call, heartbeats (as
/// events, empty data lines and comments), a tool result carrying a draft,
/// text, and now and then the trailing temporary-issue text.
func operationEvents(index: Int) -> String {
    var out = ""
    var id = index * 100
    func event(_ data: String) {
        id += 1
        out += ServerSentEventEncoder.encode(data: data, id: "\(id)")
    }
    event(#"{"type":"tool_call","name":"generate_video","args":{"prompt":"turn these product images into a 30-second promotional video with music and captions","assets":["https://cdn.nemovideo.example/u/a1.png","https://cdn.nemovideo.example/u/a2.png"],"aspect_ratio":"9:16"}}"#)
    for beat in 0..<12 {
        switch beat % 3 {
        case 0: event(#"{"type":"heartbeat"}"#)
        case 1: out += ServerSentEventEncoder.comment("heartbeat")
        default: event("")
        }
    }
    event(#"{"type":"tool_result","name":"generate_video","result":{"draft":{"t":[{"tt":0,"sg":[{"id":"v1","s":0,"d":10000,"m":{"name":"product shot","src":"https://cdn.nemovideo.example/u/a1.png"}},{"id":"v2","s":10000,"d":20000,"m":{"name":"logo reveal"}}]},{"tt":1,"sg":[{"id":"a1","s":0,"d":30000,"m":{"name":"Upbeat","volume":0.35}}]},{"tt":7,"sg":[{"id":"t1","s":0,"d":3000,"m":{"text":"Summer Sale"}}]}],"d":30000},"credits_used":100}}"#)
    event(#"{"type":"text","content":"Your 30-second promo is ready: three tracks (video, background music, title). Click Export to render it, or tell me what to change."}"#)
    if index % 7 == 0 { event(#"{"type":"text","content":"I encountered a temporary issue"}"#) }
    return out
}

var block = ""
var operation = 0
while block.utf8.count < 1_000_000 {
    block += operationEvents(index: operation)
    operation += 1
}
let blockBytes = Array(block.utf8)
let repeats = max(1, megabytes * 1_000_000 / blockBytes.count)
var stream = [UInt8]()
stream.reserveCapacity(blockBytes.count * repeats)
for _ in 0..<repeats { stream.append(contentsOf: blockBytes) }

print("sse-bench: \(String(format: "%.1f", Double(stream.count) / 1e6)) MB of NemoVideo events, \(chunkSize)-byte chunks, best of \(runs)")

var best = Double.infinity
var eventCount = 0
var commentCount = 0
var agentEventCount = 0
for _ in 0..<runs {
    var parser = ServerSentEventParser()
    var events = 0
    var comments = 0
    var agentEvents = 0
    let clock = ContinuousClock()
    let elapsed = clock.measure {
        stream.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let end = min(offset + chunkSize, all.count)
                parser.feed(UnsafeRawBufferPointer(rebasing: all[offset..<end])) { item in
                    switch item {
                    case .event(let event):
                        events += 1
                        if decode { agentEvents += AgentEventDecoder.events(fromData: event.data).count }
                    case .comment: comments += 1
                    case .retry: break
                    }
                }
                offset = end
            }
        }
        parser.finish()
    }
    let seconds = elapsed.inSeconds
    best = min(best, seconds)
    eventCount = events
    commentCount = comments
    agentEventCount = agentEvents
}
let throughput = Double(stream.count) / 1e6 / best
print("events: \(eventCount), comments: \(commentCount)\(decode ? ", agent events: \(agentEventCount)" : "")")
print(String(format: "parse%@ throughput: %.0f MB/s (%.3f s for %.1f MB)", decode ? " + decode" : "", throughput, best, Double(stream.count) / 1e6))

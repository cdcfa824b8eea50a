import Foundation
import NemoClient
import NemoCore
import NemoRecording
@testable import NemoScenarios
import NemoSimulator
import Testing

/// `nemosim profiles derive` and `nemosim drift` on recordings made here:
/// streams with known heartbeats, durations, silences and dialect.
@Suite("Profiles derived from recordings, and drift")
struct CalibrationTests {
    /// A stream as the simulator's ADK dialect writes it: heartbeats every
    /// `beat` s, a tool call, the result at `duration` s, then text unless silent.
    func stream(tool: String, duration: Double, beat: Double, silent: Bool, scale: Double = 1000) -> HAREntry {
        var items: [RecordedStreamItem] = []
        func at(_ seconds: Double) -> Double { seconds / scale * 1000 }
        items.append(RecordedStreamItem(kind: .event, offsetMs: at(0.2), data: #"{"author":"agent","content":{"parts":[{"functionCall":{"name":"\#(tool)","args":{}}}]}}"#))
        var next = beat
        while next < duration {
            items.append(RecordedStreamItem(kind: .event, offsetMs: at(next), data: ""))
            next += beat
        }
        items.append(RecordedStreamItem(kind: .event, offsetMs: at(duration), data: #"{"author":"agent","content":{"parts":[{"functionResponse":{"name":"\#(tool)","response":{}}}]}}"#))
        if !silent { items.append(RecordedStreamItem(kind: .event, offsetMs: at(duration + 0.3), data: #"{"author":"agent","content":{"parts":[{"text":"Done."}]}}"#)) }
        var entry = HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://sim/run_sse"), started: Date(), elapsed: at(duration + 0.5), status: 200,
            headers: [("Content-Type", "text/event-stream")], body: Data(), eventStream: items)
        entry.ending = .closed
        return entry
    }

    func recording(edits: Int, silentEvery: Int) -> Recording {
        var entries: [HAREntry] = []
        for index in 0..<edits {
            entries.append(stream(tool: "edit_multitrack", duration: 10 + Double(index % 21), beat: 7, silent: index % silentEvery == 0))
        }
        for index in 0..<12 { entries.append(stream(tool: "generate_video_with_seedance", duration: 60 + Double(index) * 30 / 11, beat: 7, silent: false)) }
        entries.append(HAREntryBuilder.entry(
            request: ClientRequest(method: "POST", url: "http://sim/api/auth/anonymous-token"), started: Date(), elapsed: 0, status: 200,
            headers: [("Content-Type", "application/json")], body: Data(#"{"code":0,"data":{"credits":500,"token":"t"},"message":"success"}"#.utf8)))
        return Recording(metadata: RecordingMetadata(toolVersion: "test", target: "embedded", timeScale: 1000, createdAt: "now"), entries: entries)
    }

    @Test("Observations: the heartbeat interval, silent edits, dialect, starting credits and duration ranges a recording shows")
    func observations() throws {
        let observed = RecordingObservations([recording(edits: 210, silentEvery: 2)])
        let keys = Dictionary(uniqueKeysWithValues: observed.keys.map { ($0.key, $0) })
        #expect(keys["heartbeat_interval_seconds"]?.value?.doubleValue.map { abs($0 - 7) < 0.01 } == true)
        #expect(keys["silent_close_ratio"]?.value == .number(0.5) && keys["silent_close_ratio"]?.observations == 210)
        #expect(keys["sse_dialect"]?.value == "adk")
        #expect(keys["initial_credits"]?.value == 500)
        #expect(keys["reply_duration_seconds"]?.value == nil && keys["reply_duration_seconds"]?.observations == 0)
        let range = keys["generation_duration_seconds"]?.value?.arrayValue ?? []
        let generation = range.compactMap { $0.doubleValue }
        try #require(generation.count == 2)
        #expect(abs(generation[0] - 60) < 1.5 && abs(generation[1] - 90) < 1.5, "\(generation)")
    }

    @Test("A uniform range from the 10th and 90th percentiles: one late outlier does not move it; fewer than 10 values give the extremes")
    func uniformRange() throws {
        let values = (0...100).map { 10 + Double($0) * 0.2 } + [95]
        let (low, high) = try #require(RecordingObservations.uniformRange(values))
        #expect(abs(low - 10) < 0.6 && abs(high - 30) < 0.8, "\(low) \(high)")
        #expect(RecordingObservations.uniformRange([3, 1, 2]).map { [$0.0, $0.1] } == [1, 3])
        #expect(RecordingObservations.uniformRange([]) == nil)
    }

    @Test("Drift: the keys out of tolerance named, ratios judged from 200 observations only; a derived profile loads and shows no drift")
    func drift() throws {
        let recorded = recording(edits: 210, silentEvery: 2)
        let observations = RecordingObservations([recorded])
        let strict = BehaviourProfile()
        let drifted = DriftReport.keyDrifts(observations, profile: strict).filter(\.drifted).map(\.key)
        #expect(drifted == ["heartbeat_interval_seconds", "initial_credits", "sse_dialect", "silent_close_ratio", "generation_duration_seconds"])
        // Fewer than 200 edits: the silent ratio is not judged.
        let few = DriftReport.keyDrifts(RecordingObservations([recording(edits: 50, silentEvery: 2)]), profile: strict)
        #expect(few.first { $0.key == "silent_close_ratio" }?.drifted == false)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-derive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("derived.yaml")
        let text = ProfileDerivation.yaml(observations, base: strict, sources: ["a.har"])
        #expect(text.contains("reply_duration_seconds: [5,15]  # no evidence in the recordings: the base profile's value"))
        #expect(text.contains("silent_close_ratio: 0.5  # edits that closed with no text: 210 observations"))
        try Data(text.utf8).write(to: file)
        let derived = try BehaviourProfile.named(file.path)
        #expect(derived.heartbeatIntervalSeconds == 7 && derived.sseDialect == .adk && derived.silentCloseRatio == 0.5 && derived.initialCredits == 500)
        #expect(DriftReport.keyDrifts(observations, profile: derived).filter(\.drifted).isEmpty)
    }

    @Test("Render times: submission to completion from the answers' own createdAt and completedAt, once per job, less the profile's queue")
    func renderTimes() throws {
        var entries: [HAREntry] = []
        for job in 0..<20 {
            let created = 1_800_000_000_000.0 + Double(job) * 1_000_000
            let total = 2 + 30 + Double(job) * 60 / 19  // queue 2 s, then 30-90 s
            for completed in [nil, created + total * 1000] as [Double?] {  // a poll while it runs, then the completed one
                let data = #"{"id":"render_\#(job)","status":"\#(completed == nil ? "processing" : "completed")","createdAt":\#(Int(created))"#
                    + (completed.map { #","completedAt":\#(Int($0))"# } ?? "") + "}"
                entries.append(HAREntryBuilder.entry(
                    request: ClientRequest(method: "GET", url: "http://sim/api/render/proxy/lambda/render_\(job)"), started: Date(), elapsed: 1, status: 200,
                    headers: [("Content-Type", "application/json")], body: Data(#"{"success":true,"data":\#(data)}"#.utf8)))
            }
        }
        let observations = RecordingObservations([Recording(metadata: nil, entries: entries)])
        #expect(observations.renderTimes.count == 20)
        let key = try #require(observations.keys(renderQueueSeconds: 2).first { $0.key == "render_duration_seconds" })
        let range = key.value?.arrayValue?.compactMap { $0.doubleValue } ?? []
        try #require(range.count == 2)
        #expect(abs(range[0] - 30) < 1 && abs(range[1] - 90) < 1, "\(range)")
        #expect(DriftReport.keyDrifts(observations, profile: BehaviourProfile()).first { $0.key == "render_duration_seconds" }?.drifted == false)
    }
}

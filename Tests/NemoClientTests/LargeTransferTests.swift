import Foundation
import NemoClient
import NemoCore
import NemoSimulator
import Synchronization
import Testing

@Suite("Large transfers")
struct LargeTransferTests {
    @Test("A 500 MB upload streams from disk: the file is never held in memory (client and server in this process)")
    func fiveHundredMegabytes() async throws {
        // Real time: nothing here is about simulated time, and at 1000x a
        // slow upload would outlive its session's idle window.
        let harness = try await ClientHarness.start(timeScale: 1)
        try await harness.signIn()
        let size = 500 * 1024 * 1024
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-large-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("long-take.mp4")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: UInt64(size))  // sparse: reads back as zeros
        try handle.close()

        let baseline = residentMemory()
        let peak = Mutex(baseline)
        let uploaded = Mutex<Int64>(0)
        let result = try await harness.client.upload(files: [file]) { progress in
            let now = residentMemory()
            peak.withLock { $0 = max($0, now) }
            uploaded.withLock { $0 = progress.uploaded }
        }
        #expect(result.files.first?.size == size)
        // SHA-256 of 500 MiB of zeros.
        #expect(result.files.first?.hash == "a08a92258f621b55d08ad1e84c90c2ea6286fc6b6c9a4dfa7156afb16c190170")
        #expect(uploaded.withLock { $0 } >= Int64(size), "progress reported every byte sent")
        let growth = peak.withLock { $0 } - baseline
        #expect(growth < 64 * 1024 * 1024, "memory grew by \(growth / 1024 / 1024) MiB during a 500 MiB upload")
        await harness.stop()
    }
}

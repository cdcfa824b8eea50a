import Foundation
import NemoClient
import Testing

@Suite("Moving a finished file into place")
struct MoveIntoPlaceTests {
    func write(_ text: String, _ url: URL) throws { try Data(text.utf8).write(to: url) }
    func read(_ url: URL) throws -> String { String(decoding: try Data(contentsOf: url), as: UTF8.self) }

    @Test("It replaces the target, on one file system and across two, and the source is gone")
    func replaces() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("move-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("out.mp4")
        try write("old", target)
        let source = directory.appendingPathComponent(".out.part")
        try write("new", source)
        try FileManager.default.moveIntoPlace(source, at: target)
        #expect(try read(target) == "new")
        #expect(!FileManager.default.fileExists(atPath: source.path))

        // /dev/shm is another file system on Linux: rename fails with EXDEV there.
        let shm = URL(fileURLWithPath: "/dev/shm/move-\(UUID().uuidString)")
        guard (try? write("other", shm)) != nil else { return }
        defer { try? FileManager.default.removeItem(at: shm) }
        try FileManager.default.moveIntoPlace(shm, at: target)
        #expect(try read(target) == "other")
        #expect(!FileManager.default.fileExists(atPath: shm.path))
    }

    @Test("A failure names the target and the reason")
    func failure() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)")
        let error = #expect(throws: (any Error).self) {
            try FileManager.default.moveIntoPlace(missing, at: missing.appendingPathExtension("out"))
        }
        let text = error?.localizedDescription ?? ""
        #expect(text.contains("cannot move into") && text.contains("No such file"), "\(text)")
    }
}

import Foundation

/// The files nemosim needs at run time, inside the binary (the EmbedResources
/// build plugin puts them there): the MP4 served for finished renders, the
/// shipped profiles, the built-in scenarios with their media, the JUnit
/// schema. Named by their path in the nemosim package.
public enum EmbeddedResources {
    /// Every embedded file's name, sorted.
    public static var names: [String] { EmbeddedFiles.index.keys.sorted() }

    /// An embedded file's bytes (`Fixtures/scenarios/tokens.yaml`), or nil.
    public static func data(_ name: String) -> Data? {
        guard let index = EmbeddedFiles.index[name] else { return nil }
        let text = EmbeddedFiles.blobs[index].withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        return Data(base64Encoded: text)
    }

    /// The embedded files under a folder (`Fixtures/scenarios`), sorted.
    public static func names(under folder: String) -> [String] {
        names.filter { $0.hasPrefix(folder + "/") }
    }

    /// Writes the embedded files under `folder` into `directory`, keeping
    /// their paths relative to `folder`'s parent (so `Fixtures/media/a.png`
    /// under `Fixtures` becomes `DIRECTORY/media/a.png`).
    public static func extract(_ folder: String, into directory: URL) throws {
        for name in names(under: folder) {
            let relative = String(name.dropFirst(folder.count + 1))
            let url = directory.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard let data = data(name) else { continue }
            try data.write(to: url)
        }
    }
}

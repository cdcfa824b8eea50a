import Foundation

extension FileManager {
    /// Puts the file at `source` at `target`, replacing whatever is there:
    /// in one step (`rename`) when both are on one file system, so that
    /// `target` is never missing; across file systems, by removing `target`
    /// and moving `source` (a copy).
    public func moveIntoPlace(_ source: URL, at target: URL) throws {
        if rename(source.path, target.path) == 0 { return }
        let failure = errno
        guard failure == EXDEV else {
            throw CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: target.path, NSLocalizedDescriptionKey: "cannot move into \(target.path): \(String(cString: strerror(failure)))",
            ])
        }
        try? removeItem(at: target)
        try moveItem(at: source, to: target)
    }
}

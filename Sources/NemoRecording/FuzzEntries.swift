import Foundation

/// The HAR reader's fuzz entry (see `Fuzz/`, `scripts/fuzz`): any bytes,
/// read as a recording would be, must neither trap nor hang.
package enum RecordingFuzzing {
    package static func har(_ bytes: [UInt8]) {
        guard let har = try? JSONDecoder().decode(HARFile.self, from: Data(bytes)) else { return }
        guard (try? Recording.checkNumbers(har.log.entries, metadata: har.log.nemosim, in: URL(fileURLWithPath: "/fuzz.har"))) != nil else { return }
        let recording = Recording(metadata: har.log.nemosim, entries: har.log.entries, cutOff: nil, fromJournal: false)
        // What replay does with each entry: match paths, read event streams.
        for entry in recording.entries {
            _ = ReplayMatcher.normalizedPath(entry.request.url)
            _ = entry.eventStream?.count
        }
    }
}

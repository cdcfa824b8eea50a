import Crypto
import NIOCore

/// Hashes, counts and probes the file parts of a multipart upload as they
/// stream through (and lists every part for the journal); keeps only the
/// first 64 KiB of each `files` part (for image headers), never a whole file.
struct UploadReceiver {
    var parser: MultipartStreamParser
    var files: [ReceivedFile] = []
    /// Every part seen so far (for the journal), and the bytes of the body.
    private(set) var partSummaries: [JournalEntry.Part] = []
    private(set) var bodyBytes = 0
    private var current: (name: String, filename: String, hasher: SHA256, size: Int, head: [UInt8])?
    /// The most parts one upload may carry (the profile's `max_parts_per_upload`).
    let maximumParts: Int
    private var parts = 0
    var partCount: Int { parts }

    /// Too many parts: the upload is refused before more are read.
    struct TooManyParts: Error { let limit: Int }

    init(boundary: String, maximumParts: Int = .max) {
        parser = MultipartStreamParser(boundary: boundary)
        self.maximumParts = maximumParts
    }

    mutating func consume(_ chunk: ByteBuffer) throws {
        bodyBytes += chunk.readableBytes
        var events: [MultipartStreamParser.Event] = []
        try parser.feed(chunk.readableBytesView) { events.append($0) }
        for event in events {
            switch event {
            case .partStart(let headers):
                parts += 1
                guard parts <= maximumParts else { throw TooManyParts(limit: maximumParts) }
                let disposition = ContentDisposition(headers.first { $0.name.lowercased() == "content-disposition" }?.value ?? "")
                current = (disposition.name ?? "", disposition.filename ?? "", SHA256(), 0, [])
            case .partData(let bytes):
                guard current != nil else { continue }
                // A field (no file name) is counted, not hashed: its hash is not kept.
                if !current!.filename.isEmpty { bytes.withUnsafeBytes { current!.hasher.update(bufferPointer: $0) } }
                current!.size += bytes.count
                if current!.name == "files", current!.head.count < 65536 { current!.head.append(contentsOf: bytes.prefix(65536 - current!.head.count)) }
            case .partEnd:
                guard let part = current else { continue }
                let sha256 = SHA256Hex.hex(part.hasher.finalize())
                if partSummaries.count < RequestJournal.maximumParts {
                    // A field's value (no file name) may be a secret: no hash of it.
                    let isFile = !part.filename.isEmpty
                    partSummaries.append(.init(name: part.name, filename: isFile ? part.filename : nil, size: part.size, sha256: isFile ? sha256 : nil))
                }
                if part.name == "files" {
                    let dimensions = ImageProbe.dimensions(of: part.head)
                    files.append(ReceivedFile(filename: part.filename, size: part.size, sha256: sha256, width: dimensions?.width, height: dimensions?.height))
                }
                current = nil
            }
        }
    }
}

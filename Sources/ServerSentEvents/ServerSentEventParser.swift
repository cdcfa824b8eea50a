/// An incremental event-stream parser following the WHATWG HTML
/// "server-sent events" interpretation rules.
///
/// Feed it the bytes of a stream in chunks of any size; it reports events,
/// comments and retry values as soon as they are complete. Feeding the same
/// bytes in any chunking gives the same items. It keeps only the unfinished
/// line and the current event's data, so memory stays proportional to the
/// longest event, never to the whole stream.
///
/// Rules implemented: LF, CR and CRLF line ends (a CRLF split across chunks
/// counts once); one leading UTF-8 BOM stripped; comment lines surfaced;
/// `data` joined with LF; `event`; `id` ignored when it contains NUL, the
/// last event ID persisting across events; `retry` only when ASCII digits;
/// dispatch on a blank line; an event not terminated by a blank line at the
/// end of the stream is not dispatched; invalid UTF-8 replaced with U+FFFD.
public struct ServerSentEventParser: Sendable {
    private var lineBuffer: [UInt8] = []
    private var dataBuffer: [UInt8] = []
    private var hasData = false
    private var eventTypeBuffer: [UInt8] = []
    private var lastEventIDBytes: [UInt8] = []
    private var lastEventIDString = ""
    /// The previous chunk ended with CR: a LF at the start of the next one
    /// belongs to the same line end.
    private var pendingCR = false
    /// Bytes seen at the start of the stream while deciding on a BOM.
    private var bomState: BOMState = .undecided([])

    private enum BOMState: Sendable {
        case undecided([UInt8])
        case decided
    }

    /// The reconnection time from the last valid `retry` field, in milliseconds.
    public private(set) var reconnectionTime: Int?

    /// The last event ID buffer (what a reconnect sends as `Last-Event-ID`).
    public var lastEventID: String { lastEventIDString }

    /// The longest line, and the most data one event may gather, in bytes
    /// (the specification sets none; a client that must not run out of
    /// memory does).
    public let maximumEventBytes: Int

    /// Set once a line or an event's data passed ``maximumEventBytes``: the
    /// parser then ignores the rest of the stream (its buffers are freed),
    /// and the caller should stop the transfer and report it.
    public private(set) var exceededLimit = false

    /// - Parameter maximumEventBytes: see ``maximumEventBytes`` (default: no limit).
    public init(maximumEventBytes: Int = .max) {
        self.maximumEventBytes = maximumEventBytes
    }

    /// The bytes the parser holds in its buffers (capacity, not count): at
    /// most about the longest line plus the current event's data.
    public var bufferedByteCount: Int {
        lineBuffer.capacity + dataBuffer.capacity + eventTypeBuffer.capacity + lastEventIDBytes.capacity
    }

    /// Parses one chunk and returns the items it completed.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [ServerSentEventItem] where Bytes.Element == UInt8 {
        var items: [ServerSentEventItem] = []
        let array = Array(bytes)
        array.withUnsafeBytes { buffer in
            feed(buffer) { items.append($0) }
        }
        return items
    }

    /// Parses one chunk, calling `emit` for every item it completes.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, emit: (ServerSentEventItem) -> Void) {
        guard case .undecided(var head) = bomState else {
            scan(chunk, emit: emit)
            return
        }
        // Decide on the BOM (EF BB BF) once, even when it is split across chunks.
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        var consumed = 0
        while head.count < 3, consumed < chunk.count {
            head.append(chunk[consumed])
            consumed += 1
            if head != Array(bom.prefix(head.count)) { break }
        }
        if head.count < 3, head == Array(bom.prefix(head.count)) {
            bomState = .undecided(head)  // still a BOM prefix: wait for more bytes
            return
        }
        bomState = .decided
        if head != bom {
            head.withUnsafeBytes { scan($0, emit: emit) }
        }
        scan(UnsafeRawBufferPointer(rebasing: chunk[consumed...]), emit: emit)
    }

    /// Ends the stream. An event (or line) not terminated before the end is
    /// discarded, as the specification requires; the parser is then ready for
    /// a new stream, keeping the last event ID and reconnection time.
    public mutating func finish() {
        lineBuffer.removeAll(keepingCapacity: false)
        dataBuffer.removeAll(keepingCapacity: false)
        hasData = false
        eventTypeBuffer.removeAll()
        pendingCR = false
        bomState = .undecided([])
        exceededLimit = false
    }

    /// Gives up on the stream: a line or event passed the limit.
    private mutating func exceed() {
        exceededLimit = true
        lineBuffer = []
        dataBuffer = []
        hasData = false
    }

    private mutating func scan(_ chunk: UnsafeRawBufferPointer, emit: (ServerSentEventItem) -> Void) {
        let count = chunk.count
        guard count > 0, !exceededLimit else { return }
        var index = 0
        if pendingCR {
            pendingCR = false
            if chunk[0] == 0x0A { index = 1 }
        }
        var lineStart = index
        while index < count {
            let byte = chunk[index]
            if byte == 0x0A || byte == 0x0D {
                let line = UnsafeRawBufferPointer(rebasing: chunk[lineStart..<index])
                if lineBuffer.count + line.count > maximumEventBytes { return exceed() }
                if lineBuffer.isEmpty {
                    processLine(line, emit: emit)
                } else {
                    lineBuffer.append(contentsOf: line)
                    let whole = lineBuffer
                    lineBuffer.removeAll(keepingCapacity: lineBuffer.capacity <= 1 << 16)
                    whole.withUnsafeBytes { processLine($0, emit: emit) }
                }
                if exceededLimit { return }
                index += 1
                if byte == 0x0D {
                    if index < count {
                        if chunk[index] == 0x0A { index += 1 }
                    } else {
                        pendingCR = true
                    }
                }
                lineStart = index
            } else {
                index += 1
            }
        }
        if lineStart < count {
            guard lineBuffer.count + (count - lineStart) <= maximumEventBytes else { return exceed() }
            lineBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[lineStart..<count]))
        }
    }

    private mutating func processLine(_ line: UnsafeRawBufferPointer, emit: (ServerSentEventItem) -> Void) {
        if line.isEmpty {
            dispatch(emit: emit)
            return
        }
        let colon = line.firstIndex(of: 0x3A)
        if colon == 0 {
            var start = 1
            if start < line.count, line[start] == 0x20 { start += 1 }
            emit(.comment(String(decoding: UnsafeRawBufferPointer(rebasing: line[start...]), as: UTF8.self)))
            return
        }
        let name: UnsafeRawBufferPointer
        let value: UnsafeRawBufferPointer
        if let colon {
            name = UnsafeRawBufferPointer(rebasing: line[..<colon])
            var start = colon + 1
            if start < line.count, line[start] == 0x20 { start += 1 }
            value = UnsafeRawBufferPointer(rebasing: line[start...])
        } else {
            name = line
            value = UnsafeRawBufferPointer(rebasing: line[line.count...])
        }
        switch name.count {
        case 4 where name.elementsEqual("data".utf8):
            guard dataBuffer.count + value.count < maximumEventBytes else { return exceed() }
            dataBuffer.append(contentsOf: value)
            dataBuffer.append(0x0A)
            hasData = true
        case 5 where name.elementsEqual("event".utf8):
            eventTypeBuffer.removeAll(keepingCapacity: true)
            eventTypeBuffer.append(contentsOf: value)
        case 2 where name.elementsEqual("id".utf8):
            if !value.contains(0) {
                if !value.elementsEqual(lastEventIDBytes) {
                    lastEventIDBytes = Array(value)
                    lastEventIDString = String(decoding: value, as: UTF8.self)
                }
            }
        case 5 where name.elementsEqual("retry".utf8):
            guard !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return }
            var milliseconds = 0
            for digit in value {
                let (product, overflow1) = milliseconds.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = product.addingReportingOverflow(Int(digit - 0x30))
                if overflow1 || overflow2 { return }  // out of range: ignore like a browser
                milliseconds = sum
            }
            reconnectionTime = milliseconds
            emit(.retry(milliseconds))
        default:
            break  // unknown field: ignored
        }
    }

    private mutating func dispatch(emit: (ServerSentEventItem) -> Void) {
        guard hasData else {
            // No data: reset the buffers, dispatch nothing.
            eventTypeBuffer.removeAll(keepingCapacity: true)
            return
        }
        dataBuffer.removeLast()  // the trailing LF
        let data = String(decoding: dataBuffer, as: UTF8.self)
        let type = eventTypeBuffer.isEmpty ? "message" : String(decoding: eventTypeBuffer, as: UTF8.self)
        dataBuffer.removeAll(keepingCapacity: dataBuffer.capacity <= 1 << 16)
        eventTypeBuffer.removeAll(keepingCapacity: true)
        hasData = false
        emit(.event(ServerSentEvent(type: type, data: data, lastEventID: lastEventIDString)))
    }
}

extension ServerSentEventParser {
    /// Whether `bytes` give the same items whole and cut in two (at the
    /// place the first byte picks), with a 4 KiB limit: the property the
    /// fuzz target checks, and the test that replays its corpus.
    package static func sameItemsInAnyChunking(_ bytes: [UInt8]) -> Bool {
        var whole = ServerSentEventParser(maximumEventBytes: 4096)
        let all = whole.feed(bytes)
        var split = ServerSentEventParser(maximumEventBytes: 4096)
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        let parts = split.feed(bytes[..<cut]) + split.feed(bytes[cut...])
        return whole.exceededLimit || split.exceededLimit || all == parts
    }
}

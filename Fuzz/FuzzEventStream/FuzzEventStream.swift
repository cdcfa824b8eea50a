import ServerSentEvents

/// The event-stream parser: any bytes, in any chunking, give the same items
/// (a differential check) and never trap; the limit stops a long line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventStream(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var whole = ServerSentEventParser(maximumEventBytes: 4096)
    let all = whole.feed(bytes)
    var split = ServerSentEventParser(maximumEventBytes: 4096)
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let parts = split.feed(bytes[..<cut]) + split.feed(bytes[cut...])
    if !whole.exceededLimit && !split.exceededLimit && all != parts {
        fatalError("chunking changed the items: \(all) vs \(parts)")
    }
    return 0
}

import ServerSentEvents

/// The event-stream parser: any bytes, in any chunking, give the same items
/// (a differential check) and never trap; the limit stops a long line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventStream(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if !ServerSentEventParser.sameItemsInAnyChunking(bytes) { fatalError("chunking changed the items") }
    return 0
}

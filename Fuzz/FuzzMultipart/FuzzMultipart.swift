import NemoSimulator

/// The multipart parser and upload receiver (first byte: the chunk size).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    SimulatorFuzzing.multipart(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

import NemoRecording

/// The HAR reader, with the checks a replay makes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHAR(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    RecordingFuzzing.har(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

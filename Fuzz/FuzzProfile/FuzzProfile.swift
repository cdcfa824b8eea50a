import NemoSimulator

/// The profile loader (JSON or YAML, aliases bounded).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    SimulatorFuzzing.profile(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

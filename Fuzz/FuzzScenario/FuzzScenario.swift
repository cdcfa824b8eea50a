import NemoScenarios

/// The scenario loader (YAML, aliases bounded, every step and expectation parsed).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenario(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? ScenarioParser.parse(String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self), file: "fuzz.yaml")
    return 0
}

import Foundation
import NemoScenarios
import NemoSimulator
import Testing

/// Scenario files from anywhere: numbers that crashed `nemosim run`
/// (SIGILL), YAML that expanded to gigabytes, header values that injected
/// headers. Each is a clear error naming the file and line.
@Suite("Hostile scenario files")
struct ScenarioHardeningTests {
    static let hostile = ["1e300", "-1e300", ".nan", ".inf", "-.inf", "9223372036854775808", "1e17"]

    @Test("advance_clock, timeout and poll refuse 1e300, -1e300, NaN, infinities and 2^63 with file:line")
    func numbers() throws {
        for value in Self.hostile {
            let advance = parseError("name: n\nsteps:\n  - token: {}\n  - advance_clock: \(value)\n")
            #expect(advance?.line == 4, "advance_clock: \(value)")
            #expect(advance?.message.contains("advance_clock needs seconds") == true)
            let timeout = parseError("name: n\nsteps:\n  - credits: {}\n    timeout: \(value)\n")
            #expect(timeout?.line == 4 || timeout?.line == 3, "timeout: \(value)")
            let poll = parseError("name: n\nsteps:\n  - credits: {}\n    poll: {interval: \(value), limit: 2}\n")
            #expect(poll != nil, "poll.interval: \(value)")
            let repeated = parseError("name: n\nsteps:\n  - credits: {}\n    repeat: \(value)\n")
            #expect(repeated != nil, "repeat: \(value)")
        }
        // In range: accepted.
        #expect(parseError("name: n\nsteps:\n  - token: {}\n  - advance_clock: 3600\n") == nil)
    }

    @Test("A YAML billion laughs, or an alias as a key, is refused before it is expanded")
    func billionLaughs() throws {
        var lines = [#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        let names = "abcdefghij".map(String.init)
        for (previous, name) in zip(names, names.dropFirst()) {
            lines.append("\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]")
        }
        let bomb = "name: bomb\nsteps:\n  - token: {}\nx:\n" + lines.map { "  " + $0 }.joined(separator: "\n") + "\n"
        let error = try #require(parseError(bomb))
        #expect(error.message.contains("aliases expand to more than"))
        let keyBomb = lines.joined(separator: "\n") + "\n? *j\n: x\n"
        #expect(parseError(keyBomb)?.message.contains("as a mapping key is not allowed") == true)
        // Anchors used sensibly still work.
        let reuse = """
            name: reuse
            steps:
              - token: {}
              - request: &get {method: GET, path: /api/credits/balance/simple}
              - request: *get
            """
        #expect(try ScenarioParser.parse(reuse, file: "reuse.yaml").first?.steps.count == 3)
    }

    @Test("A header value with CR, LF or NUL, or a bad header name, method or path, is refused with file:line")
    func headerInjection() {
        let value = parseError("name: n\nsteps:\n  - request: {method: GET, path: /x, headers: {X-A: \"a\\r\\nX-Injected: 1\"}}\n")
        #expect(value?.line == 3 && value?.message.contains("would inject another header") == true)
        #expect(parseError("name: n\nsteps:\n  - request: {method: GET, path: /x, headers: {X-A: \"a\\u0000b\"}}\n") != nil)
        #expect(parseError("name: n\nsteps:\n  - request: {method: GET, path: /x, headers: {\"X A\": b}}\n")?.message.contains("header name") == true)
        #expect(parseError("name: n\nsteps:\n  - request: {method: \"GET /x HTTP/1.1\\r\\n\", path: /x}\n") != nil)
        #expect(parseError("name: n\nsteps:\n  - request: {method: GET, path: \"/x HTTP/1.1\\r\\nX: y\"}\n") != nil)
    }
}

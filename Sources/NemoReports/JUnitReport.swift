import CLibXML2
import Foundation

/// Errors writing or validating reports.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// JUnit XML written with libxml2's writer API (escaping is libxml2's): one
/// `testsuite` per scenario file (with its `file`), or per profile when the
/// run was under several (`conformance --profile all`), one `testcase` per
/// scenario (`classname` the file's path with dots, `name`, `file` and
/// `line` where the scenario starts, `time` in seconds as a plain decimal),
/// failures with expected vs actual and the failed step, skips with their
/// reason, the step log in `system-out`, and `properties` for target, seed,
/// time scale and tool version. Characters XML 1.0 forbids are dropped.
public enum JUnitReport {
    public static func xml(for run: RunResult) throws -> Data {
        guard let buffer = xmlBufferCreate() else { throw ReportError("libxml2 could not allocate a buffer") }
        defer { xmlBufferFree(buffer) }
        guard let writer = xmlNewTextWriterMemory(buffer, 0) else { throw ReportError("libxml2 could not create a writer") }
        var failed = false
        func check(_ result: Int32) { if result < 0 { failed = true } }
        check(xmlTextWriterSetIndent(writer, 1))
        check(xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil))
        check(xmlTextWriterStartElement(writer, "testsuites"))
        attribute(writer, "name", "nemosim", &failed)
        attribute(writer, "tests", String(run.scenarios.count), &failed)
        attribute(writer, "failures", String(run.failed), &failed)
        attribute(writer, "errors", String(run.errors), &failed)
        attribute(writer, "time", seconds(run.duration), &failed)
        for suite in suites(of: run) {
            let scenarios = suite.cases
            let counted = ScenarioFileResult(file: suite.file ?? suite.name, scenarios: scenarios.map(\.result))
            check(xmlTextWriterStartElement(writer, "testsuite"))
            attribute(writer, "name", suite.name, &failed)
            attribute(writer, "tests", String(scenarios.count), &failed)
            attribute(writer, "failures", String(counted.failed), &failed)
            attribute(writer, "errors", String(counted.errors), &failed)
            attribute(writer, "skipped", String(counted.skipped), &failed)
            attribute(writer, "time", seconds(counted.duration), &failed)
            attribute(writer, "timestamp", run.startedAt, &failed)
            if let file = suite.file { attribute(writer, "file", file, &failed) }
            check(xmlTextWriterStartElement(writer, "properties"))
            var properties: [(String, String)] = [("target", run.target), ("tool_version", run.toolVersion)]
            if let seed = run.seed { properties.append(("seed", String(seed))) }
            if let scale = run.timeScale { properties.append(("time_scale", seconds(scale))) }
            if let profile = suite.profile { properties.append(("profile", profile)) }
            for (name, value) in properties {
                check(xmlTextWriterStartElement(writer, "property"))
                attribute(writer, "name", name, &failed)
                attribute(writer, "value", value, &failed)
                check(xmlTextWriterEndElement(writer))
            }
            check(xmlTextWriterEndElement(writer))
            for (classname, file, scenario) in scenarios {
                check(xmlTextWriterStartElement(writer, "testcase"))
                attribute(writer, "classname", classname, &failed)
                attribute(writer, "name", scenario.name, &failed)
                attribute(writer, "time", seconds(scenario.duration), &failed)
                // Where annotation tools (GitHub's, GitLab's) place a failure.
                attribute(writer, "file", file, &failed)
                if let line = scenario.line { attribute(writer, "line", String(line), &failed) }
                switch scenario.outcome {
                case .passed:
                    break
                case .failed(let failure):
                    check(xmlTextWriterStartElement(writer, "failure"))
                    attribute(writer, "type", "expectation", &failed)
                    attribute(writer, "message", "\(failure.step): \(failure.message)", &failed)
                    text(writer, "step: \(failure.step)\nexpected: \(failure.expected)\nactual: \(failure.actual)\n\(failure.message)", &failed)
                    check(xmlTextWriterEndElement(writer))
                case .skipped(let reason):
                    check(xmlTextWriterStartElement(writer, "skipped"))
                    attribute(writer, "message", reason, &failed)
                    check(xmlTextWriterEndElement(writer))
                case .error(let message):
                    check(xmlTextWriterStartElement(writer, "error"))
                    attribute(writer, "type", "error", &failed)
                    attribute(writer, "message", message, &failed)
                    check(xmlTextWriterEndElement(writer))
                }
                if !scenario.log.isEmpty {
                    check(xmlTextWriterStartElement(writer, "system-out"))
                    text(writer, scenario.log.joined(separator: "\n"), &failed)
                    check(xmlTextWriterEndElement(writer))
                }
                check(xmlTextWriterEndElement(writer))
            }
            check(xmlTextWriterEndElement(writer))
        }
        check(xmlTextWriterEndElement(writer))
        check(xmlTextWriterEndDocument(writer))
        xmlFreeTextWriter(writer)
        if failed { throw ReportError("libxml2 failed while writing the JUnit report") }
        guard let content = xmlBufferContent(buffer) else { throw ReportError("libxml2 returned no content") }
        return Data(bytes: content, count: Int(xmlBufferLength(buffer)))
    }

    /// One `testsuite`: a scenario file's, or, when the run was under
    /// several profiles, a profile's (its files' scenarios, each classed
    /// `profile.file`).
    struct Suite {
        var name: String
        var file: String?
        var profile: String?
        var cases: [(classname: String, file: String, result: ScenarioResult)]
    }

    static func suites(of run: RunResult) -> [Suite] {
        guard run.files.contains(where: { $0.profile != nil }) else {
            return run.files.map { file in
                Suite(name: file.name, file: file.file, profile: nil, cases: file.scenarios.map { (classname: file.name, file: file.file, result: $0) })
            }
        }
        var suites: [Suite] = []
        for file in run.files {
            let profile = file.profile ?? "default"
            let cases = file.scenarios.map { (classname: profile + "." + file.name, file: file.file, result: $0) }
            if let index = suites.firstIndex(where: { $0.name == profile }) {
                suites[index].cases += cases
            } else {
                suites.append(Suite(name: profile, file: nil, profile: profile, cases: cases))
            }
        }
        return suites
    }

    /// Seconds as a plain decimal (no exponent, no grouping).
    static func seconds(_ value: Double) -> String {
        String(format: "%.3f", max(0, value.isFinite ? value : 0))
    }

    /// The text with the characters XML 1.0 cannot hold removed.
    static func xmlSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { scalar in
            switch scalar.value {
            case 0x9, 0xA, 0xD: return true
            case 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
            default: return false
            }
        }))
    }

    private static func attribute(_ writer: xmlTextWriterPtr, _ name: String, _ value: String, _ failed: inout Bool) {
        if xmlTextWriterWriteAttribute(writer, name, xmlSafe(value)) < 0 { failed = true }
    }

    private static func text(_ writer: xmlTextWriterPtr, _ value: String, _ failed: inout Bool) {
        if xmlTextWriterWriteString(writer, xmlSafe(value)) < 0 { failed = true }
    }

    /// Validates a report against an XSD with libxml2; throws with every
    /// problem libxml2 reports (line and message).
    public static func validate(_ xml: Data, schema: URL) throws {
        guard let parser = xmlSchemaNewParserCtxt(schema.path) else { throw ReportError("cannot read the schema \(schema.path)") }
        defer { xmlSchemaFreeParserCtxt(parser) }
        guard let compiled = xmlSchemaParse(parser) else { throw ReportError("the schema \(schema.path) does not compile") }
        defer { xmlSchemaFree(compiled) }
        guard let context = xmlSchemaNewValidCtxt(compiled) else { throw ReportError("libxml2 could not create a validation context") }
        defer { xmlSchemaFreeValidCtxt(context) }
        let collector = ErrorCollector()
        xmlSchemaSetValidStructuredErrors(context, { user, error in
            guard let user, let error else { return }
            let collector = Unmanaged<ErrorCollector>.fromOpaque(user).takeUnretainedValue()
            let message = error.pointee.message.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
            collector.messages.append("line \(error.pointee.line): \(message)")
        }, Unmanaged.passUnretained(collector).toOpaque())
        let document = xml.withUnsafeBytes { raw in
            xmlReadMemory(raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count), "report.xml", nil, 0)
        }
        guard let document else { throw ReportError("the report is not well-formed XML") }
        defer { xmlFreeDoc(document) }
        let result = withExtendedLifetime(collector) { xmlSchemaValidateDoc(context, document) }
        if result != 0 {
            throw ReportError("the report does not validate against \(schema.lastPathComponent): " + collector.messages.joined(separator: "; "))
        }
    }
}

private final class ErrorCollector {
    var messages: [String] = []
}

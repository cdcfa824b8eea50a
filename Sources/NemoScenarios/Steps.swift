import Crypto
import Foundation
import NemoClient
import NemoCore

/// When heartbeats arrived (API seconds on the client's clock).
final class HeartbeatTimes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func append(_ time: Double) { lock.withLock { values.append(time) } }
    var times: [Double] { lock.withLock { values } }
}

/// What the client does on its own, kept for `actions` expectations.
final class ActionList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ClientAction] = []
    func append(_ action: ClientAction) { lock.withLock { items.append(action) } }
    func take() -> [ClientAction] {
        lock.withLock {
            let taken = items
            items = []
            return taken
        }
    }
}

extension ScenarioRunner {
    /// The profile keys whose limits count per client address.
    static let perAddressLimits = ["tokens_per_ip_per_hour", "tokens_per_ip_per_window"]

    /// Lifts the simulator's per-address token limits (every scenario signs
    /// in from one address); returns their values before, to put back.
    func liftPerAddressLimits() async throws -> JSONValue {
        let profile = try JSONValue.parse(try await admin("GET", "/profile", nil).body)
        var before: [String: JSONValue] = [:]
        var lifted: [String: JSONValue] = [:]
        for key in Self.perAddressLimits {
            guard let value = profile[key] else { continue }
            before[key] = value
            lifted[key] = .number(1_000_000)
        }
        if !lifted.isEmpty { try await admin("PATCH", "/profile", .object(lifted)) }
        return .object(before)
    }

    /// A call of the admin API; an error answer is a usage error naming it.
    @discardableResult
    func admin(_ method: String, _ path: String, _ body: JSONValue?) async throws -> ClientResponse {
        let request = ClientRequest(
            method: method, url: baseURL + "/_nemosim" + path,
            body: body.map { .data(Data($0.jsonString().utf8), contentType: "application/json") } ?? .none)
        let response = try await transport.send(request)
        guard (200..<300).contains(response.status) else {
            throw NemoError(
                kind: .usage, httpStatus: response.status, message: "admin \(path): \(String(decoding: response.body, as: UTF8.self))",
                response: response)
        }
        return response
    }

    /// Downloads to a file and describes what came back: `{status, bytes,
    /// sha256, mp4, body, code}`. `body` is a JSON answer up to 64 KiB (an
    /// error envelope), `code` its envelope code. A path on the target is
    /// fetched with the client's token and headers; an absolute URL (a signed
    /// outputUrl) without them.
    func download(_ url: String, to: String?, client: NemoClient) async throws -> JSONValue {
        // Into a temporary file, moved to `to` only on success: an error
        // answer never replaces a file that is there.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-download-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        var headers: [(name: String, value: String)] = []
        var target = url
        if url.hasPrefix("/") {
            target = baseURL + url
            headers = await client.headers()
        }
        let response = try await client.transport.download(ClientRequest(method: "GET", url: target, headers: headers, timeout: 3600), to: file, progress: nil)
        var digest = SHA256()
        var bytes = 0
        var head = Data()
        func take(_ chunk: Data) {
            if head.count < Self.describedBodyLimit { head.append(chunk.prefix(Self.describedBodyLimit - head.count)) }
            digest.update(data: chunk)
            bytes += chunk.count
        }
        if (200..<300).contains(response.status) {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { take(chunk) }
        } else {
            // An error answer stays in memory; the file is left as it was.
            take(response.body)
        }
        var json: [String: JSONValue] = [
            "status": .number(Double(response.status)), "bytes": .number(Double(bytes)),
            "sha256": .string(digest.finalize().map { String(format: "%02x", $0) }.joined()),
            // An MP4 (ISO BMFF) starts with a box whose type is `ftyp`.
            "mp4": .bool(head.count >= 8 && head[head.startIndex + 4..<head.startIndex + 8] == Data("ftyp".utf8)),
        ]
        if bytes <= Self.describedBodyLimit, let body = try? JSONValue.parse(head) {
            json["body"] = body
            if let code = body["code"], code.intValue != nil { json["code"] = code }
        }
        if let to, (200..<300).contains(response.status) {
            try FileManager.default.moveIntoPlace(file, at: URL(fileURLWithPath: to))
        }
        return .object(json)
    }

    /// How much of a download is kept to describe it (parsed as JSON when whole).
    static let describedBodyLimit = 64 * 1024

    /// A file named by a step: relative to the fixtures folder, or absolute.
    func fixture(_ path: String, _ variables: [String: JSONValue]) -> URL {
        let path = substitute(path, variables)
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : fixturesDirectory.appendingPathComponent(path)
    }

    /// `${name}` in text becomes the captured value (strings as they are, anything else as JSON).
    static func substitute(_ text: String, _ variables: [String: JSONValue]) -> String {
        guard text.contains("${") else { return text }
        var result = text
        for (name, value) in variables { result = result.replacingOccurrences(of: "${\(name)}", with: value.stringValue ?? value.jsonString()) }
        return result
    }

    func substitute(_ text: String, _ variables: [String: JSONValue]) -> String { Self.substitute(text, variables) }

    /// In JSON, a string that is exactly `${name}` becomes the captured value
    /// itself (an object stays an object, e.g. a captured draft).
    static func substitute(_ value: JSONValue, _ variables: [String: JSONValue]) -> JSONValue {
        switch value {
        case .string(let text):
            if text.hasPrefix("${"), text.hasSuffix("}"), let whole = variables[String(text.dropFirst(2).dropLast())] { return whole }
            return .string(substitute(text, variables))
        case .array(let items): return .array(items.map { substitute($0, variables) })
        case .object(let object): return .object(object.mapValues { substitute($0, variables) })
        default: return value
        }
    }

    func substitute(_ value: JSONValue, _ variables: [String: JSONValue]) -> JSONValue { Self.substitute(value, variables) }
}

import Foundation
import NemoCore
import Synchronization

/// Replaces secrets with stable placeholders before anything is written:
/// bearer tokens, token values in bodies, `X-Client-Id`, signed query
/// strings in media URLs, and any header or JSON path a rule adds. The same
/// secret always maps to the same placeholder within one recording, and
/// every secret seen once is also replaced wherever else it appears.
public final class Redactor: Sendable {
    /// What to redact besides the built-in secrets.
    public struct Rules: Sendable, Hashable {
        /// Header names (case-insensitive) whose values are secrets.
        public var headers: [String]
        /// JSON paths (`data.token`, `items.*.key`) whose values are secrets.
        public var jsonPaths: [String]

        public init(headers: [String] = [], jsonPaths: [String] = []) {
            self.headers = headers
            self.jsonPaths = jsonPaths
        }
    }

    static let secretHeaders = SecretShapes.headers
    static let secretJSONKeys = SecretShapes.jsonKeys
    static let signedQueryParameters = SecretShapes.queryParameters

    public let rules: Rules
    private struct State {
        var placeholders: [String: String] = [:]
        var counters: [String: Int] = [:]
    }

    private let state = Mutex(State())

    public init(rules: Rules = Rules()) {
        self.rules = rules
    }

    /// The placeholder of a secret (created on first sight).
    /// A token keeps its documented prefix (`nmv_usr_REDACTED-token-1`,
    /// `clm_REDACTED-claim-1`), so a replay hands clients tokens of the
    /// shape they check for.
    public func placeholder(for secret: String, kind: String) -> String {
        let prefix = [userTokenPrefix, claimTokenPrefix].first { secret.hasPrefix($0) } ?? ""
        if secret.dropFirst(prefix.count).hasPrefix("REDACTED-") { return secret }  // already redacted
        return state.withLock { state in
            if let existing = state.placeholders[secret] { return existing }
            let number = state.counters[kind, default: 0] + 1
            state.counters[kind] = number
            let placeholder = "\(prefix)REDACTED-\(kind)-\(number)"
            state.placeholders[secret] = placeholder
            return placeholder
        }
    }

    /// Numbers new placeholders of each kind after the highest that
    /// `entries` (a recording being appended to) already hold.
    public func continueNumbering(after entries: [HAREntry]) {
        let encoder = JSONEncoder()
        guard let data = try? encoder.encode(entries), let regex = try? NSRegularExpression(pattern: #"REDACTED-([a-z]+(?:-[a-z]+)*)-([0-9]{1,9})"#)
        else { return }
        let text = String(decoding: data, as: UTF8.self)
        var highest: [String: Int] = [:]
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let kind = Range(match.range(at: 1), in: text).map({ String(text[$0]) }),
                let number = Range(match.range(at: 2), in: text).flatMap({ Int(text[$0]) })
            else { continue }
            highest[kind] = max(highest[kind] ?? 0, number)
        }
        state.withLock { state in
            for (kind, number) in highest { state.counters[kind] = max(state.counters[kind] ?? 0, number) }
        }
    }

    /// Every secret seen so far (for tests and for scanning other text).
    public var knownSecrets: [String] { state.withLock { Array($0.placeholders.keys) } }

    /// A header's value, redacted when the header is a secret.
    public func header(name: String, value: String) -> String {
        let lower = name.lowercased()
        guard Self.secretHeaders.contains(lower) || rules.headers.contains(where: { $0.lowercased() == lower }) else {
            return text(value)
        }
        if lower == "authorization" || lower == "proxy-authorization", let (scheme, secret) = SecretShapes.credential(inAuthorization: value) {
            return "\(scheme) \(placeholder(for: secret, kind: "token"))"
        }
        return placeholder(for: value, kind: lower == "x-client-id" ? "client-id" : "secret")
    }

    /// A URL with the values of signed query parameters redacted.
    public func url(_ url: String) -> String {
        guard var components = URLComponents(string: url), let items = components.queryItems, !items.isEmpty else { return text(url) }
        components.queryItems = items.map { item in
            guard let value = item.value, Self.signedQueryParameters.contains(item.name.lowercased()) else { return item }
            return URLQueryItem(name: item.name, value: placeholder(for: value, kind: "signature"))
        }
        return text(components.string ?? url)
    }

    /// A body: JSON bodies have secret keys, user paths and signed URLs
    /// redacted; then every known secret is replaced wherever it appears.
    public func body(_ body: String, mimeType: String) -> String {
        if mimeType.lowercased().contains("json") || body.first == "{" || body.first == "[", let json = try? JSONValue.parse(body) {
            return text(redact(json, path: []).jsonString())
        }
        return text(body)
    }

    /// Any text (event data, comments): known secrets replaced; JSON
    /// redacted; any word shaped like this API's tokens (`nmv_...`,
    /// `clm_...`) replaced, seen before or not.
    public func text(_ value: String) -> String {
        var result = redactTokenShapedWords(value)
        if let first = result.first, first == "{", let json = try? JSONValue.parse(result) {
            let redacted = redact(json, path: []).jsonString()
            if redacted != json.jsonString() { result = redacted }
        }
        let secrets = state.withLock { $0.placeholders }
        for (secret, placeholder) in secrets where secret.count >= 6 && result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: placeholder)
        }
        return result
    }

    /// Replaces each word shaped like this API's tokens with its placeholder.
    private func redactTokenShapedWords(_ value: String) -> String {
        SecretShapes.replacingTokenWords(in: value) { placeholder(for: $0, kind: $0.hasPrefix(claimTokenPrefix) ? "claim" : "token") }
    }

    private func redact(_ value: JSONValue, path: [String]) -> JSONValue {
        switch value {
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, member) in object {
                let childPath = path + [key]
                if case .string(let secret) = member, Self.secretJSONKeys.contains(key.lowercased()) || matches(childPath) {
                    let kind = ["token": "token", "claim_token": "claim"][key.lowercased()] ?? "secret"
                    out[key] = .string(placeholder(for: secret, kind: kind))
                } else {
                    out[key] = redact(member, path: childPath)
                }
            }
            return .object(out)
        case .array(let array):
            return .array(array.enumerated().map { redact($0.element, path: path + [String($0.offset)]) })
        case .string(let string):
            if matches(path) { return .string(placeholder(for: string, kind: "secret")) }
            if string.hasPrefix("http://") || string.hasPrefix("https://"), string.contains("?") { return .string(url(string)) }
            return value
        default:
            return value
        }
    }

    private func matches(_ path: [String]) -> Bool {
        rules.jsonPaths.contains { rule in
            let parts = rule.split(separator: ".").map(String.init)
            guard parts.count == path.count else { return false }
            return zip(parts, path).allSatisfy { $0 == "*" || $0 == $1 }
        }
    }
}

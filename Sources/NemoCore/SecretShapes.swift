/// What a secret looks like in this API's traffic, for everything that
/// redacts: the recordings' `Redactor` and the simulator's journal.
public enum SecretShapes {
    /// Headers whose values are secrets (lower case).
    public static let headers: Set<String> = ["authorization", "proxy-authorization", "x-client-id", "cookie", "set-cookie", "x-api-key"]

    /// JSON keys whose string values are secrets (lower case).
    public static let jsonKeys: Set<String> = [
        "token", "access_token", "refresh_token", "api_key", "apikey", "secret", "password", "client_secret", "claim_token",
    ]

    /// Query parameters whose values are secrets: signed-URL signatures and
    /// the credentials some APIs and proxies accept in a query string.
    public static let queryParameters: Set<String> = [
        "signature", "sig", "token", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
        "x-goog-credential", "key-pair-id", "policy", "expires", "se", "sp", "sv", "skoid", "sktid",
        "access_token", "refresh_token", "id_token", "auth", "authorization", "api_key", "apikey", "api-key", "key", "secret",
        "client_secret", "password", "passwd", "session_token", "jwt", "bearer",
    ]

    /// An `Authorization` value's scheme and credential (`Bearer nmv_...`),
    /// or nil when it has no space (the whole value is then the secret).
    public static func credential(inAuthorization value: String) -> (scheme: Substring, secret: String)? {
        guard let space = value.firstIndex(of: " ") else { return nil }
        return (value[..<space], value[value.index(after: space)...].trimmingCharacters(in: .whitespaces))
    }

    /// The prefixes of this API's secrets (API and claim tokens): any word
    /// starting with one is a secret wherever it appears.
    public static let tokenPrefixes = ["nmv_", "clm_"]

    /// `value` with each word that starts with one of ``tokenPrefixes`` and
    /// goes on for 8 or more token characters (letters, digits, `_`, `-`,
    /// `.`) replaced by `replacement(word)`.
    public static func replacingTokenWords(in value: String, with replacement: (String) -> String) -> String {
        guard tokenPrefixes.contains(where: { value.contains($0) }) else { return value }
        let bytes = Array(value.utf8)
        func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."): true
            default: false
            }
        }
        let prefixes = tokenPrefixes.map { Array($0.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let startsWord = index == 0 || !isTokenByte(bytes[index - 1])
            if startsWord, let prefix = prefixes.first(where: { bytes[index...].starts(with: $0) }) {
                var end = index + prefix.count
                while end < bytes.count, isTokenByte(bytes[end]) { end += 1 }
                if end - index - prefix.count >= 8 {
                    out.append(contentsOf: replacement(String(decoding: bytes[index..<end], as: UTF8.self)).utf8)
                    index = end
                    continue
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

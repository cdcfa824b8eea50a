import Foundation
import NemoCore

/// Where and as whom the client talks.
public struct ClientConfiguration: Sendable {
    /// The API's base URL (default production).
    public var baseURL: String
    /// A bearer token; nil until one is issued. Never printed or logged.
    public var token: String?
    /// The `X-Client-Id` for token issuance.
    public var clientID: String
    /// The attribution headers sent on every call.
    public var attribution: AttributionHeaders
    /// Transport settings (TLS, timeouts).
    public var transport: CurlTransport.Options
    /// The web app, for claim and registration links (`NEMO_WEB_URL`).
    public var webAppURL: String

    public init(
        baseURL: String = Endpoint.productionBaseURL, token: String? = nil, clientID: String = UUID().uuidString,
        attribution: AttributionHeaders = AttributionHeaders(source: "nemosim", version: NemosimVersion.current, platform: "unknown"),
        transport: CurlTransport.Options = .init(), webAppURL: String = Endpoint.webAppURL
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.clientID = clientID
        self.attribution = attribution
        self.transport = transport
        self.webAppURL = webAppURL.hasSuffix("/") ? String(webAppURL.dropLast()) : webAppURL
    }

    /// `NEMO_TOKEN` from `environment`, when it may be sent to `url`: a
    /// token of one's own goes only over https (to a plain-http URL, even a
    /// local simulator or proxy, it is not used: the client gets a token of
    /// its own there). `refused` is the note to print when it was set but
    /// is not used.
    public static func environmentToken(
        for url: String, _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> (token: String?, refused: String?) {
        guard let token = environment["NEMO_TOKEN"], !token.isEmpty else { return (nil, nil) }
        guard url.lowercased().hasPrefix("https://") else {
            return (nil, "NEMO_TOKEN is not used with \(url): a token is only sent over https")
        }
        return (token, nil)
    }

    /// The configuration from the environment: `NEMO_API_URL`, `NEMO_TOKEN`
    /// (only for an https URL, see ``environmentToken(for:_:)``),
    /// `NEMO_CLIENT_ID` (else a UUID persisted at
    /// `~/.config/nemovideo/client_id`), `NEMO_WEB_URL`, and, as skill 1.9
    /// names them, the attribution: `X-Skill-Source` the client's name
    /// (`SKILL_NAME`, else `nemosim`), `X-Skill-Version` its version,
    /// `X-Skill-Platform` where it runs (`SKILL_SOURCE`, else `unknown`).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, baseURL: String? = nil
    ) -> ClientConfiguration {
        let url = baseURL ?? environment["NEMO_API_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Endpoint.productionBaseURL
        let token = environmentToken(for: url, environment).token
        let clientID = environment["NEMO_CLIENT_ID"].flatMap { $0.isEmpty ? nil : $0 } ?? persistedClientID(environment: environment)
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        return ClientConfiguration(
            baseURL: url, token: token, clientID: clientID,
            attribution: AttributionHeaders(
                source: value("SKILL_NAME") ?? "nemosim", version: NemosimVersion.current, platform: value("SKILL_SOURCE") ?? "unknown"),
            webAppURL: value("NEMO_WEB_URL") ?? Endpoint.webAppURL)
    }

    /// The client id stored at `~/.config/nemovideo/client_id`, created on first use.
    public static func persistedClientID(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        let directory = URL(fileURLWithPath: home).appendingPathComponent(".config/nemovideo")
        let file = directory.appendingPathComponent("client_id")
        if let stored = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !stored.isEmpty {
            return stored
        }
        let id = UUID().uuidString.lowercased()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? id.write(to: file, atomically: true, encoding: .utf8)
        return id
    }
}

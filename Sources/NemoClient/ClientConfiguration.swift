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

    public init(
        baseURL: String = Endpoint.productionBaseURL, token: String? = nil, clientID: String = UUID().uuidString,
        attribution: AttributionHeaders = AttributionHeaders(source: "nemosim", version: NemosimVersion.current, platform: "unknown"),
        transport: CurlTransport.Options = .init()
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.clientID = clientID
        self.attribution = attribution
        self.transport = transport
    }

    /// The configuration from the environment: `NEMO_API_URL`, `NEMO_TOKEN`,
    /// `NEMO_CLIENT_ID` (else a UUID persisted at
    /// `~/.config/nemovideo/client_id`), `SKILL_SOURCE`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, baseURL: String? = nil
    ) -> ClientConfiguration {
        let url = baseURL ?? environment["NEMO_API_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Endpoint.productionBaseURL
        let token = environment["NEMO_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let clientID = environment["NEMO_CLIENT_ID"].flatMap { $0.isEmpty ? nil : $0 } ?? persistedClientID(environment: environment)
        let source = environment["SKILL_SOURCE"].flatMap { $0.isEmpty ? nil : $0 } ?? "nemosim"
        return ClientConfiguration(
            baseURL: url, token: token, clientID: clientID,
            attribution: AttributionHeaders(source: source, version: NemosimVersion.current, platform: environment["SKILL_PLATFORM"] ?? "unknown"))
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

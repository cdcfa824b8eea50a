import Foundation
import NemoClient
import NemoCore

extension CredentialStore {
    /// Saves the client's current token and session (a recovery rule may
    /// have renewed either) for the next command.
    func save(_ client: NemoClient) async {
        // A token given through NEMO_TOKEN stays where the user keeps it.
        let environmentToken = ProcessInfo.processInfo.environment["NEMO_TOKEN"]
        let token = await client.token.flatMap { $0 == environmentToken ? nil : $0 }
        let session = await client.sessionID
        try? update(for: client.configuration.baseURL) {
            if let token { $0.token = token }
            if let session { $0.sessionID = session }
        }
    }
}

/// Saves the token and session per API URL in
/// `~/.config/nemosim/credentials.json` (mode 0600), so that one command can
/// follow another. Tokens are never printed. (Not under
/// `~/.config/nemovideo/`: the vendor's skill keeps only the client id
/// there, and says so.)
struct CredentialStore {
    struct Entry: Codable {
        var token: String?
        var userID: String?
        /// When the token expires (ISO 8601), as issued.
        var expiresAt: String?
        var sessionID: String?
        var taskID: String?
    }

    let file: URL

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        file = URL(fileURLWithPath: home).appendingPathComponent(".config/nemosim/credentials.json")
    }

    func all() -> [String: Entry] {
        guard let data = try? Data(contentsOf: file) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    func load(for api: String) -> Entry? { all()[api] }

    func update(for api: String, _ change: (inout Entry) -> Void) throws {
        var entries = all()
        var entry = entries[api] ?? Entry()
        change(&entry)
        entries[api] = entry
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Created 0600 before any byte is written, then moved into place.
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw NemoError(kind: .usage, message: "cannot write \(temporary.path)")
        }
        let handle = try FileHandle(forWritingTo: temporary)
        try handle.write(contentsOf: try encoder.encode(entries))
        try handle.close()
        guard rename(temporary.path, file.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw NemoError(kind: .usage, message: "cannot write \(file.path): \(String(cString: strerror(errno)))")
        }
    }
}

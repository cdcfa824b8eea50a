import Foundation
import NemoCore

/// One file the HTTP front received, already hashed and measured as it streamed.
public struct ReceivedFile: Sendable, Hashable {
    /// The name the client gave (data, never a path on this machine).
    public var filename: String
    public var size: Int
    /// SHA-256 of the bytes, hex.
    public var sha256: String
    /// Image dimensions read from PNG/JPEG/GIF headers, when present.
    public var width: Int?
    public var height: Int?

    public init(filename: String, size: Int, sha256: String, width: Int? = nil, height: Int? = nil) {
        self.filename = filename
        self.size = size
        self.sha256 = sha256
        self.width = width
        self.height = height
    }
}

extension Simulation {
    /// Checks token and session before the front reads an upload's body.
    func authorizeUpload(token: String?, missingAttribution: [String] = [], userPath: String, sessionID: String) throws(SimulatorFailure) {
        settle()
        let userID = try resolveUser(userPath, token: token, scope: Route.upload.scope, missingAttribution: missingAttribution)
        _ = try touchSession(sessionID, userID: userID)
    }

    /// Records received files: 4001 for an unsupported type, 4002 for one
    /// over the size limit (nothing is recorded then).
    public func completeUpload(
        token: String?, missingAttribution: [String] = [], userPath: String, sessionID: String, files: [ReceivedFile]
    ) throws(SimulatorFailure) -> UploadResult {
        settle()
        let userID = try resolveUser(userPath, token: token, scope: Route.upload.scope, missingAttribution: missingAttribution)
        _ = try touchSession(sessionID, userID: userID)
        guard !files.isEmpty else {
            throw .badRequest("no files in the upload: send multipart/form-data with one or more parts named \"files\", or JSON {\"urls\": [...], \"source_type\": \"url\"}")
        }
        guard files.count <= profile.maxPartsPerUpload else {
            throw .badRequest("the upload has \(files.count) files, more than \(profile.maxPartsPerUpload) in one request: send them in several uploads")
        }
        let held = sessions[sessionID]!.uploads.count
        guard held + files.count <= profile.maxUploadsPerSession else {
            throw .http(
                429, "this session holds \(held) media files; \(files.count) more would pass its limit of \(profile.maxUploadsPerSession): start a new session for more media")
        }
        var uploaded: [UploadedFile] = []
        for file in files {
            guard let kind = MediaKind(fileName: file.filename) else {
                throw .code(.unsupportedFileType, "unsupported file type: \(file.filename). Accepted: \(ClientReaction.showAcceptedFormats.advice)")
            }
            guard file.size <= profile.maxUploadBytes else {
                throw .code(.fileTooLarge, "file too large: \(file.filename) is \(file.size) bytes, the limit is \(profile.maxUploadBytes): compress or trim it")
            }
            uploaded.append(UploadedFile(
                filename: file.filename, fileType: kind.rawValue,
                cdnURL: "\(advertisedBaseURL)/_nemosim/media/uploads/\(file.sha256)/\(Route.encode(file.filename))",
                duration: kind == .image ? nil : 10, width: file.width ?? (kind == .audio ? nil : 1920),
                height: file.height ?? (kind == .audio ? nil : 1080), fps: kind == .video ? 30 : nil, hash: file.sha256, size: file.size))
        }
        sessions[sessionID]!.uploads += uploaded
        if let first = uploaded.first(where: { $0.fileType != "audio" }), let width = first.width, let height = first.height {
            if sessions[sessionID]!.uploads.count == uploaded.count { sessions[sessionID]!.canvas = Canvas(width: width, height: height) }
        }
        return UploadResult(files: uploaded, sessionStateApplied: true)
    }

    /// A URL upload: the simulator does not fetch; it checks the type by the
    /// URL's extension and records the media with the URL's hash.
    public func uploadURLs(
        token: String?, missingAttribution: [String] = [], userPath: String, sessionID: String, urls: [String]
    ) throws(SimulatorFailure) -> UploadResult {
        guard !urls.isEmpty else { throw .badRequest("urls is empty: give one or more http(s) URLs") }
        guard urls.count <= profile.maxPartsPerUpload else {
            throw .badRequest("the upload has \(urls.count) URLs, more than \(profile.maxPartsPerUpload) in one request: send them in several uploads")
        }
        var files: [ReceivedFile] = []
        for url in urls {
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                throw .badRequest("not an http(s) URL: \(url)")
            }
            let name = parsed.lastPathComponent.isEmpty ? url : parsed.lastPathComponent
            files.append(ReceivedFile(filename: name, size: 0, sha256: SHA256Hex.of(Data(url.utf8))))
        }
        return try completeUpload(token: token, missingAttribution: missingAttribution, userPath: userPath, sessionID: sessionID, files: files)
    }
}

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore
import ServerSentEvents

/// The NemoVideo API endpoints: thin handlers that decode, call the
/// ``Simulation`` and encode.
struct APIRoutes {
    let simulation: Simulation
    let renderFile: ByteBuffer

    func register(on router: Router<SimulatorRequestContext>) {
        router.post("/api/auth/anonymous-token") { request, context in
            let mode = simulation.profile.errorStatusMode
            do {
                let token = try await simulation.issueToken(clientID: request.headers[HTTPField.Name("X-Client-Id")!], clientIP: context.clientIP)
                return Responses.success(token)
            } catch {
                return Responses.failure(error, mode: mode)
            }
        }

        router.post("/api/tasks/:user/with-session/nemo_agent") { request, context in
            let mode = simulation.profile.errorStatusMode
            let user = context.parameters.get("user") ?? "me"
            // The body is optional ({"task_name": "project", "language": ""}).
            var body = CreateSessionRequest()
            if request.headers[.contentLength] != "0" {
                let buffer = try? await request.body.collect(upTo: context.maxUploadSize)
                if let buffer, buffer.readableBytes > 0 {
                    let data = Data(buffer.readableBytesView)
                    guard (try? JSONSerialization.jsonObject(with: data)) != nil else {
                        return Responses.badRequest("request body is not valid JSON: expected {\"task_name\": \"project\", \"language\": \"\"}")
                    }
                    do {
                        body = try JSONDecoder().decode(CreateSessionRequest.self, from: data)
                    } catch {
                        return Responses.badRequest("request body must be a JSON object like {\"task_name\": \"project\", \"language\": \"\"}")
                    }
                }
            }
            do {
                return Responses.success(try await simulation.createSession(token: request.bearerToken, userPath: user, request: body))
            } catch {
                return Responses.failure(error, mode: mode)
            }
        }

        // The polled GETs: the event loop usually answers these itself
        // (PolledRouteHandler); the router answers the rest the same way.
        router.get("/api/state/nemo_agent/:user/:session/latest") { request, context in
            await simulation.answer(
                .state(user: context.parameters.get("user") ?? "me", session: context.parameters.get("session") ?? ""),
                token: request.bearerToken
            ).response
        }

        router.get("/api/credits/balance/simple") { request, _ in
            await simulation.answer(.credits, token: request.bearerToken).response
        }

        router.post("/api/upload-video/nemo_agent/:user/:session") { request, context in
            try await upload(request, context: context)
        }

        router.post("/run_sse", use: EventStreamResponder(simulation: simulation).respond)

        router.post("/api/render/proxy/lambda") { request, context in
            let mode = simulation.profile.errorStatusMode
            let shape = simulation.profile.renderShape
            let example = #"{"id": "render_<unique>", "sessionId": "<session_id>", "draft": <draft from state>, "output": {"format": "mp4", "quality": "high"}}"#
            switch await request.decodeJSON(RenderRequest.self, context: context, example: example) {
            case .failure(let failure):
                return Responses.renderFailure(failure, mode: mode)
            case .success(let body):
                do {
                    let job = try await simulation.submitRender(token: request.bearerToken, missingAttribution: request.missingAttribution, request: body)
                    return Responses.render(job, shape: shape)
                } catch {
                    return Responses.renderFailure(error, mode: mode)
                }
            }
        }

        router.get("/api/render/proxy/lambda/:id") { request, context in
            await simulation.answer(.renderStatus(id: context.parameters.get("id") ?? ""), token: request.bearerToken).response
        }

        router.post("/api/render/proxy/lambda/:id/cancel") { request, context in
            let mode = simulation.profile.errorStatusMode
            let shape = simulation.profile.renderShape
            do {
                return Responses.render(try await simulation.cancelRender(token: request.bearerToken, id: context.parameters.get("id") ?? ""), shape: shape)
            } catch {
                return Responses.renderFailure(error, mode: mode)
            }
        }

        router.get("/api/render/proxy/:id/download") { request, context in
            let mode = simulation.profile.errorStatusMode
            let id = context.parameters.get("id") ?? ""
            do {
                try await simulation.authorizeDownload(token: request.bearerToken, id: id)
                return mp4(id: id)
            } catch {
                return Responses.renderFailure(error, mode: mode)
            }
        }

        router.get("/_nemosim/media/renders/:file") { request, context in
            let file = context.parameters.get("file") ?? ""
            let id = file.hasSuffix(".mp4") ? String(file.dropLast(4)) : file
            do {
                try await simulation.authorizeSignedDownload(
                    id: id, signature: request.uri.queryParameters.get("signature"), expires: request.uri.queryParameters.get("expires"))
                return mp4(id: id)
            } catch {
                return Responses.failure(error, mode: .envelope)
            }
        }

        router.get("/_nemosim/media/uploads/**") { _, _ in
            Responses.failure(SimulatorFailure.http(404, "the simulator keeps only the hash and size of uploads, not their bytes"), mode: .envelope)
        }
    }

    func mp4(id: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "video/mp4",
                .contentDisposition: "attachment; filename=\"\(id.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }).mp4\"",
            ],
            body: .init(byteBuffer: renderFile))
    }

    // MARK: Uploads

    func upload(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        let mode = simulation.profile.errorStatusMode
        let user = context.parameters.get("user") ?? "me"
        let session = context.parameters.get("session") ?? ""
        let token = request.bearerToken
        let contentType = request.headers[.contentType] ?? ""
        do {
            try await simulation.authorizeUpload(token: token, userPath: user, sessionID: session)
        } catch {
            return Responses.failure(error, mode: mode)
        }
        if contentType.lowercased().hasPrefix("application/json") {
            let example = #"{"urls": ["https://example.com/clip.mp4"], "source_type": "url"}"#
            switch await request.decodeJSON(URLUploadRequest.self, context: context, example: example) {
            case .failure(let failure):
                return Responses.failure(failure, mode: mode)
            case .success(let body):
                do {
                    return Responses.success(try await simulation.uploadURLs(token: token, userPath: user, sessionID: session, urls: body.urls))
                } catch {
                    return Responses.failure(error, mode: mode)
                }
            }
        }
        guard let boundary = MultipartStreamParser.boundary(fromContentType: contentType) else {
            return Responses.badRequest(
                "Content-Type must be multipart/form-data with a boundary (parts named \"files\") or application/json ({\"urls\": [...], \"source_type\": \"url\"}); got \"\(contentType)\"")
        }
        var receiver = UploadReceiver(boundary: boundary)
        do {
            for try await chunk in request.body {
                try receiver.consume(chunk)
            }
        } catch let error as MultipartStreamParser.ParseError {
            return Responses.badRequest("invalid multipart body: \(error)")
        } catch {
            return Responses.badRequest("upload body cut off or unreadable: \(error)")
        }
        guard receiver.parser.isComplete else {
            return Responses.badRequest("invalid multipart body: it ended before the closing boundary --\(boundary)--")
        }
        if receiver.files.contains(where: { $0.filename.isEmpty }) {
            return Responses.badRequest("a \"files\" part has no filename: send Content-Disposition: form-data; name=\"files\"; filename=\"clip.mp4\"")
        }
        do {
            return Responses.success(try await simulation.completeUpload(token: token, userPath: user, sessionID: session, files: receiver.files))
        } catch {
            return Responses.failure(error, mode: mode)
        }
    }
}

/// Hashes, counts and probes the `files` parts of a multipart upload as they
/// stream through; keeps only the first 64 KiB of each part (for image headers).
struct UploadReceiver {
    var parser: MultipartStreamParser
    var files: [ReceivedFile] = []
    private var current: (name: String, filename: String, hasher: SHA256, size: Int, head: [UInt8])?

    init(boundary: String) {
        parser = MultipartStreamParser(boundary: boundary)
    }

    mutating func consume(_ chunk: ByteBuffer) throws {
        var events: [MultipartStreamParser.Event] = []
        try parser.feed(chunk.readableBytesView) { events.append($0) }
        for event in events {
            switch event {
            case .partStart(let headers):
                let disposition = headers.first { $0.name.lowercased() == "content-disposition" }?.value ?? ""
                let parameters = Self.parameters(of: disposition)
                current = (parameters["name"] ?? "", parameters["filename"] ?? "", SHA256(), 0, [])
            case .partData(let bytes):
                guard current != nil, current!.name == "files" else { continue }
                bytes.withUnsafeBytes { current!.hasher.update(bufferPointer: $0) }
                current!.size += bytes.count
                if current!.head.count < 65536 { current!.head.append(contentsOf: bytes.prefix(65536 - current!.head.count)) }
            case .partEnd:
                if let part = current, part.name == "files" {
                    let dimensions = ImageProbe.dimensions(of: part.head)
                    files.append(ReceivedFile(
                        filename: part.filename, size: part.size, sha256: SHA256Hex.hex(part.hasher.finalize()),
                        width: dimensions?.width, height: dimensions?.height))
                }
                current = nil
            }
        }
    }

    /// `form-data; name="files"; filename="a.png"` → ["name": "files", "filename": "a.png"].
    static func parameters(of disposition: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(disposition)
        while let semicolon = rest.firstIndex(of: ";") {
            rest = rest[rest.index(after: semicolon)...]
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var valueStart = rest.index(after: equals)
            var value = ""
            if valueStart < rest.endIndex, rest[valueStart] == "\"" {
                valueStart = rest.index(after: valueStart)
                var index = valueStart
                while index < rest.endIndex, rest[index] != "\"" {
                    if rest[index] == "\\", rest.index(after: index) < rest.endIndex { index = rest.index(after: index) }
                    value.append(rest[index])
                    index = rest.index(after: index)
                }
                rest = index < rest.endIndex ? rest[rest.index(after: index)...] : rest[rest.endIndex...]
            } else {
                let end = rest[valueStart...].firstIndex(of: ";") ?? rest.endIndex
                value = rest[valueStart..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            result[key] = value
        }
        return result
    }
}

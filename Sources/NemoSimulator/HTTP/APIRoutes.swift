import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore
import NemoHTTPServer

/// The NemoVideo API endpoints: one thin handler per ``Route`` of the table
/// (decode, call the ``Simulation``, encode). Handlers throw
/// ``SimulatorFailure``s; the ``FrontMiddleware`` turns them into the
/// route's envelope.
struct APIRoutes {
    let simulation: Simulation
    let renderFile: ByteBuffer

    /// Registers a handler for every route of the table, at the table's
    /// method and path; throws if a route has none (a route added to the
    /// table and not here).
    ///
    /// Each handler is passed to the router as the method itself, not as a
    /// closure stored on the way: every open connection keeps the deepest
    /// async stack its requests reached, and each reabstraction thunk is a
    /// frame more (measured: 11 MiB for 10,000 held streams,
    /// `scripts/bench/simulator --only streams`).
    func register(on router: Router<SimulatorRequestContext>) throws {
        let streams = EventStreamResponder(simulation: simulation)
        for route in Route.all {
            guard let method = HTTPRequest.Method(route.method) else {
                throw SimulatorServerError.invalidConfiguration("internal error: \(route) has no valid method")
            }
            let path = RouterPath(route.routerPath)
            switch route.name {
            case Route.anonymousToken.name: router.on(path, method: method, use: issueToken)
            case Route.createSession.name: router.on(path, method: method, use: createSession)
            case Route.state.name, Route.credits.name, Route.renderStatus.name: router.on(path, method: method, use: polled(route))
            case Route.upload.name: router.on(path, method: method, use: upload)
            case Route.runSSE.name: router.on(path, method: method, use: streams.respond)
            case Route.renderSubmit.name: router.on(path, method: method, use: submitRender)
            case Route.renderCancel.name: router.on(path, method: method, use: cancelRender)
            case Route.renderDownload.name: router.on(path, method: method, use: download)
            case Route.claimToken.name: router.on(path, method: method, use: claimToken)
            case Route.createToken.name: router.on(path, method: method, use: createToken)
            case Route.listTokens.name: router.on(path, method: method, use: listTokens)
            case Route.revokeToken.name: router.on(path, method: method, use: revokeToken)
            default: throw SimulatorServerError.invalidConfiguration("internal error: no handler for \(route)")
            }
        }
        registerMedia(on: router)
    }

    static let clientID = HTTPField.Name(NemoHeader.clientID)!

    func issueToken(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        Responses.success(try await simulation.issueToken(clientID: request.headers[Self.clientID], clientIP: context.clientIP))
    }

    /// The body is optional (`{"task_name": "project", "language": ""}`).
    func createSession(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        var body = CreateSessionRequest()
        if request.headers[.contentLength] != "0" {
            let buffer = try await request.collectBody(context)
            if buffer.readableBytes > 0 {
                body = try Request.decodeJSON(CreateSessionRequest.self, from: buffer, example: #"{"task_name": "project", "language": ""}"#)
            }
        }
        return Responses.success(
            try await simulation.createSession(
                token: request.bearerToken, missingAttribution: request.missingAttribution, userPath: context.parameter("user_id"), request: body))
    }

    /// The polled GETs: the event loop usually answers these itself
    /// (PolledRouteHandler); the router answers the rest the same way.
    func polled(_ route: Route) -> @Sendable (Request, SimulatorRequestContext) async throws -> Response {
        let simulation = self.simulation
        return { request, context in
            var parameters: [String: String] = [:]
            for name in route.parameters { parameters[name] = context.parameter(name) }
            return try await simulation.polledAnswer(
                route, parameters: parameters, token: request.bearerToken, missingAttribution: request.missingAttribution
            ).response
        }
    }

    func submitRender(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        let example = #"{"id": "render_<unique>", "sessionId": "<session_id>", "draft": <draft from state>, "output": {"format": "mp4", "quality": "high"}}"#
        let body = try await request.decodeJSON(RenderRequest.self, context: context, example: example)
        let job = try await simulation.submitRender(
            token: request.bearerToken, missingAttribution: request.missingAttribution, request: body, fails: context.fault?.failsRender == true)
        return Responses.render(job, shape: simulation.profile.renderShape)
    }

    func cancelRender(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        let job = try await simulation.cancelRender(token: request.bearerToken, missingAttribution: request.missingAttribution, id: context.parameter("id"))
        return Responses.render(job, shape: simulation.profile.renderShape)
    }

    func download(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        let id = context.parameter("id")
        try await simulation.authorizeDownload(token: request.bearerToken, missingAttribution: request.missingAttribution, id: id)
        return Responses.mp4(renderFile, id: id)
    }

    func claimToken(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(ClaimTokenRequest.self, context: context, example: #"{"task_id": "<task_id>", "session_id": "<session_id>"}"#)
        return Responses.success(
            try await simulation.claimToken(
                token: request.bearerToken, missingAttribution: request.missingAttribution, taskID: body.taskID, sessionID: body.sessionID))
    }

    func createToken(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        struct Body: Decodable {
            var name: String
            var scopes: [TokenScope]
            var expiresInDays: Int?
            enum CodingKeys: String, CodingKey { case name, scopes, expiresInDays = "expires_in_days" }
        }
        let body = try await request.decodeJSON(Body.self, context: context, example: #"{"name": "CI", "scopes": ["read", "write"], "expires_in_days": 90}"#)
        return Responses.success(
            try await simulation.createAPIToken(
                token: request.bearerToken, missingAttribution: request.missingAttribution, name: body.name, scopes: body.scopes,
                expiresInDays: body.expiresInDays ?? 90))
    }

    func listTokens(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        Responses.success(try await simulation.listAPITokens(token: request.bearerToken, missingAttribution: request.missingAttribution))
    }

    func revokeToken(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        Responses.success(
            try await simulation.revokeAPIToken(token: request.bearerToken, missingAttribution: request.missingAttribution, id: context.parameter("id")))
    }

    /// The simulator's own media: signed render downloads (the `outputUrl`
    /// a finished render gives), and upload URLs (which it cannot serve).
    func registerMedia(on router: Router<SimulatorRequestContext>) {
        let simulation = self.simulation
        let renderFile = self.renderFile
        router.get("/_nemosim/media/renders/:file") { request, context in
            let file = context.parameter("file")
            let id = file.hasSuffix(".mp4") ? String(file.dropLast(4)) : file
            try await simulation.authorizeSignedDownload(
                id: id, signature: request.uri.queryParameters.get("signature"), expires: request.uri.queryParameters.get("expires"))
            return Responses.mp4(renderFile, id: id)
        }
        router.get("/_nemosim/media/uploads/**") { _, _ -> Response in
            throw SimulatorFailure.http(404, "the simulator keeps only the hash and size of uploads, not their bytes")
        }
    }

    // MARK: Uploads

    func upload(_ request: Request, context: SimulatorRequestContext) async throws -> Response {
        let user = context.parameter("user_id")
        let session = context.parameter("session_id")
        let token = request.bearerToken
        let contentType = request.headers[.contentType] ?? ""
        let missing = request.missingAttribution
        try await simulation.authorizeUpload(token: token, missingAttribution: missing, userPath: user, sessionID: session)
        if contentType.lowercased().hasPrefix("application/json") {
            let example = #"{"urls": ["https://example.com/clip.mp4"], "source_type": "url"}"#
            let body = try await request.decodeJSON(URLUploadRequest.self, context: context, example: example)
            return Responses.success(
                try await simulation.uploadURLs(token: token, missingAttribution: missing, userPath: user, sessionID: session, urls: body.urls))
        }
        guard let boundary = MultipartStreamParser.boundary(fromContentType: contentType) else {
            throw SimulatorFailure.badRequest(
                "Content-Type must be multipart/form-data with a boundary (parts named \"files\") or application/json ({\"urls\": [...], \"source_type\": \"url\"}); got \"\(contentType)\"")
        }
        var receiver = UploadReceiver(boundary: boundary, maximumParts: simulation.profile.maxPartsPerUpload)
        defer { JournalNote.current?.parts(receiver.partSummaries, size: receiver.bodyBytes, count: receiver.partCount) }
        do {
            for try await chunk in request.body {
                try receiver.consume(chunk)
            }
        } catch let error as UploadReceiver.TooManyParts {
            throw SimulatorFailure.badRequest("the upload has more than \(error.limit) parts: send the files in several uploads")
        } catch let error as MultipartStreamParser.ParseError {
            throw SimulatorFailure.badRequest("invalid multipart body: \(error)")
        } catch {
            throw SimulatorFailure.badRequest("upload body cut off or unreadable: \(error)")
        }
        guard receiver.parser.isComplete else {
            throw SimulatorFailure.badRequest("invalid multipart body: it ended before the closing boundary --\(boundary)--")
        }
        if receiver.files.contains(where: { $0.filename.isEmpty }) {
            throw SimulatorFailure.badRequest("a \"files\" part has no filename: send Content-Disposition: form-data; name=\"files\"; filename=\"clip.mp4\"")
        }
        return Responses.success(
            try await simulation.completeUpload(token: token, missingAttribution: missing, userPath: user, sessionID: session, files: receiver.files))
    }
}

extension SimulatorRequestContext {
    /// A path parameter of the route (empty when absent).
    func parameter(_ name: String) -> String {
        parameters.get(name) ?? ""
    }
}

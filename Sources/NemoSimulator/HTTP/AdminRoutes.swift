import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore
import NemoHTTPServer

/// The admin API under `/_nemosim/`: a route group behind ``AdminGuard``.
struct AdminRoutes {
    let simulation: Simulation

    func register(on router: Router<SimulatorRequestContext>, adminToken: String?) {
        let simulation = self.simulation
        // Health is public: it holds no secret, and a client anywhere learns
        // from it the time scale and the rules of the profile in force.
        router.get("/_nemosim/health") { _, _ in
            let profile = simulation.profile
            return Responses.json([
                "status": "ok", "seed": .number(Double(simulation.seed)), "time_scale": .number(simulation.clock.timeScale),
                "version": .string(NemosimVersion.current), "profile": .string(profile.name), "profile_base": .string(profile.base),
                "client_rules": [
                    "stream_resume": .bool(profile.streamResume), "render_shape": .string(profile.renderShape.rawValue),
                    "render_poll_interval_seconds": .number(profile.renderPollIntervalSeconds),
                    "render_max_polls": .number(Double(profile.renderMaxPolls)),
                    "client_stream_timeout_seconds": .number(profile.clientStreamTimeoutSeconds),
                ],
            ])
        }
        // The contract is public too: it describes the API, not this simulator's state.
        router.get("/_nemosim/openapi.json") { _, _ in
            guard var document = OpenAPIContract.served else { throw SimulatorFailure.http(500, "internal error: the OpenAPI contract could not be made") }
            var servers = document["servers"]?.arrayValue ?? []
            servers.insert(["url": .string(await simulation.advertisedBaseURL), "description": "this simulator"], at: 0)
            document.set("servers", .array(servers))
            return Responses.json(document)
        }
        let admin = router.group("_nemosim").add(middleware: AdminGuard(adminToken: adminToken))
        admin.post("reset") { _, _ in
            await simulation.reset()
            return Responses.json(["status": "reset"])
        }
        // The size of each table (what eviction and limits keep bounded).
        admin.get("tables") { _, _ in
            Responses.json(.object(await simulation.tableSizes.mapValues { .number(Double($0)) }))
        }
        admin.get("clock") { _, _ in
            Responses.json([
                "now": .string(await simulation.nowISO8601), "time_scale": .number(simulation.clock.timeScale),
                "advanced_seconds": .number(simulation.clock.advancedSeconds),
            ])
        }
        admin.post("clock/advance") { request, context in
            struct Advance: Decodable { var seconds: Double }
            let body = try await request.decodeJSON(Advance.self, context: context, example: #"{"seconds": 3600}"#)
            try await simulation.advanceClock(by: body.seconds)
            return Responses.json(["now": .string(await simulation.nowISO8601), "time_scale": .number(simulation.clock.timeScale)])
        }
        admin.get("profile") { _, _ in
            Responses.json(simulation.profile.jsonValue)
        }
        admin.patch("profile") { request, context in
            let patch = try await request.decodeJSON(JSONValue.self, context: context, example: #"{"silent_close_ratio": 0.5}"#)
            return Responses.json(try simulation.patchProfile(patch).jsonValue)
        }
        admin.put("profile/:name") { _, context in
            let name = context.parameter("name")
            guard BehaviourProfile.shippedNames.contains(name) else {
                throw SimulatorFailure.http(404, "no shipped profile \(name): one of \(BehaviourProfile.shippedNames.joined(separator: ", "))")
            }
            return Responses.json(simulation.setProfile(try BehaviourProfile.shipped(name)).jsonValue)
        }
        admin.post("faults") { request, context in
            let example = #"{"match": {"method": "GET", "path": "/api/credits/balance/simple"}, "respond": {"code": 1001}, "times": 1}"#
            let rule = try await request.decodeJSON(FaultRule.self, context: context, example: example)
            let armed = try simulation.faults.arm(rule)
            return Responses.json((try? JSONValue(encoding: armed)) ?? .null, status: .created)
        }
        admin.get("faults") { _, _ in
            Responses.json((try? JSONValue(encoding: simulation.faults.rules)) ?? .array([]))
        }
        admin.delete("faults") { _, _ in
            simulation.faults.clear()
            return Responses.json(["status": "cleared"])
        }
        admin.get("journal") { request, _ in
            let query = try JournalQuery(parameters: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
            return Responses.json((try? JSONValue(encoding: simulation.journal.page(query, clock: simulation.clock))) ?? .null)
        }
        admin.get("journal/count") { request, _ in
            let query = try JournalQuery(parameters: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
            let (count, dropped) = simulation.journal.count(query)
            return Responses.json(["count": .number(Double(count)), "dropped": .number(Double(dropped))])
        }
        admin.delete("journal") { _, _ in
            simulation.journal.clear()
            return Responses.json(["status": "cleared"])
        }
        admin.post("accounts") { request, context in
            struct Account: Decodable {
                var kind: String
                var credits: Int?
                var plan: String?
            }
            let body = try await request.decodeJSON(Account.self, context: context, example: #"{"kind": "registered", "credits": 500, "plan": "paid"}"#)
            guard body.kind == "registered" else {
                throw SimulatorFailure.badRequest("kind must be \"registered\" (anonymous accounts come from POST /api/auth/anonymous-token)")
            }
            guard ["free", "paid", nil].contains(body.plan) else { throw SimulatorFailure.badRequest("plan must be free or paid") }
            let (user, token) = try await simulation.registerAccount(credits: body.credits ?? 0, freePlan: body.plan == "free")
            return Responses.json(["user_id": .string(user), "token": .string(token), "scopes": ["*"]], status: .created)
        }
        admin.get("claims/:token") { _, context in
            Responses.json(try await simulation.claim(context.parameter("token")))
        }
        admin.put("accounts/:user/credits") { request, context in
            struct Credits: Decodable { var available: Int }
            let user = context.parameter("user")
            let body = try await request.decodeJSON(Credits.self, context: context, example: #"{"available": 0}"#)
            try await simulation.setCredits(userID: user, available: body.available)
            return Responses.json(["user_id": .string(user), "available": .number(Double(body.available))])
        }
        admin.post("tokens/revoke") { request, context in
            struct Revoke: Decodable { var token: String }
            let body = try await request.decodeJSON(Revoke.self, context: context, example: #"{"token": "nmv_usr_..."}"#)
            try await simulation.revoke(token: body.token)
            return Responses.json(["status": "revoked"])
        }
        admin.post("tokens/inspect") { request, context in
            struct Inspect: Decodable { var token: String }
            let body = try await request.decodeJSON(Inspect.self, context: context, example: #"{"token": "nmv_usr_..."}"#)
            return Responses.json(try await simulation.inspect(token: body.token))
        }
        admin.post("tokens/scopes") { request, context in
            struct Scopes: Decodable { var token: String; var scopes: [TokenScope] }
            let body = try await request.decodeJSON(Scopes.self, context: context, example: #"{"token": "nmv_usr_...", "scopes": ["read"]}"#)
            try await simulation.setScopes(token: body.token, scopes: body.scopes)
            return Responses.json(["status": "updated", "scopes": .array(body.scopes.map { .string($0.rawValue) })])
        }
    }
}

/// In front of every admin route: loopback clients only, unless an admin
/// token is set (then `Authorization: Bearer <token>`, from anywhere); and
/// every failure of an admin handler in the API's envelope, with the
/// failure's HTTP status as its code (a bad profile patch lists each problem
/// under `data.problems`).
struct AdminGuard: RouterMiddleware {
    typealias Context = SimulatorRequestContext

    let adminToken: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = refusal(request, context: context) { return refusal }
        do {
            return try await next(request, context)
        } catch let error as ProfileError {
            return JSONAnswer.error(
                status: .badRequest, code: 400, message: error.description, envelope: .standard,
                data: ["problems": .array(error.problems.map(JSONValue.string))]
            ).response
        } catch {
            return SimulatorFailure.from(error).answer(envelope: .standard, mode: .http).response
        }
    }

    /// Compares a presented secret with the expected one in time that
    /// does not depend on where they differ: their SHA-256 digests are
    /// compared (swift-crypto's digest equality is constant-time), on the
    /// bytes as sent (no Unicode normalisation: `é` and `e\u{301}` differ).
    static func sameSecret(_ presented: String?, _ expected: String) -> Bool {
        guard let presented else { return false }
        return SHA256.hash(data: Array(presented.utf8)) == SHA256.hash(data: Array(expected.utf8))
    }

    private func refusal(_ request: Request, context: Context) -> Response? {
        if let adminToken {
            guard Self.sameSecret(request.bearerToken, adminToken) else {
                return JSONAnswer.error(
                    status: .unauthorized, code: 401, message: "the admin API needs Authorization: Bearer <admin token> (see --admin-token)",
                    envelope: .standard
                ).response
            }
            return nil
        }
        guard context.isLoopback else {
            return JSONAnswer.error(
                status: .forbidden, code: 403,
                message: "the admin API answers loopback clients only; start nemosim with --admin-token to allow others", envelope: .standard
            ).response
        }
        return nil
    }
}

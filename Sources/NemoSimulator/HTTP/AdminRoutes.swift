import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore

/// The admin API under `/_nemosim/`.
struct AdminRoutes {
    let simulation: Simulation

    func register(on router: Router<SimulatorRequestContext>) {
        let simulation = self.simulation
        router.get("/_nemosim/health") { _, _ in
            Responses.json([
                "status": "ok", "seed": .number(Double(simulation.seed)), "time_scale": .number(simulation.clock.timeScale),
                "version": .string(NemosimInfo.version),
            ])
        }
        router.post("/_nemosim/reset") { _, _ in
            await simulation.reset()
            return Responses.json(["status": "reset"])
        }
        router.get("/_nemosim/clock") { _, _ in
            Responses.json([
                "now": .string(await simulation.nowISO8601), "time_scale": .number(simulation.clock.timeScale),
                "advanced_seconds": .number(simulation.clock.advancedSeconds),
            ])
        }
        router.post("/_nemosim/clock/advance") { request, context in
            struct Advance: Decodable { var seconds: Double }
            switch await request.decodeJSON(Advance.self, context: context, example: #"{"seconds": 3600}"#) {
            case .failure(let failure): return Self.error(failure)
            case .success(let body):
                do {
                    try await simulation.advanceClock(by: body.seconds)
                } catch {
                    return Self.error(error)
                }
                return Responses.json(["now": .string(await simulation.nowISO8601), "time_scale": .number(simulation.clock.timeScale)])
            }
        }
        router.get("/_nemosim/profile") { _, _ in
            Responses.json(simulation.profile.jsonValue)
        }
        router.patch("/_nemosim/profile") { request, context in
            switch await request.decodeJSON(JSONValue.self, context: context, example: #"{"silent_close_ratio": 0.5}"#) {
            case .failure(let failure): return Self.error(failure)
            case .success(let patch):
                do {
                    return Responses.json(try simulation.patchProfile(patch).jsonValue)
                } catch let error as ProfileError {
                    return Responses.json(["error": .string(error.description), "problems": .array(error.problems.map(JSONValue.string))], status: .badRequest)
                }
            }
        }
        router.post("/_nemosim/faults") { request, context in
            let example = #"{"match": {"method": "GET", "path": "/api/credits/balance/simple"}, "respond": {"code": 1001}, "times": 1}"#
            switch await request.decodeJSON(FaultRule.self, context: context, example: example) {
            case .failure(let failure): return Self.error(failure)
            case .success(let rule):
                let armed = simulation.faults.arm(rule)
                return Responses.json((try? JSONValue(encoding: armed)) ?? .null, status: .created)
            }
        }
        router.get("/_nemosim/faults") { _, _ in
            Responses.json((try? JSONValue(encoding: simulation.faults.rules)) ?? .array([]))
        }
        router.delete("/_nemosim/faults") { _, _ in
            simulation.faults.clear()
            return Responses.json(["status": "cleared"])
        }
        router.get("/_nemosim/journal") { _, _ in
            Responses.json((try? JSONValue(encoding: simulation.journal.entries(clock: simulation.clock))) ?? .array([]))
        }
        router.delete("/_nemosim/journal") { _, _ in
            simulation.journal.clear()
            return Responses.json(["status": "cleared"])
        }
        router.put("/_nemosim/accounts/:user/credits") { request, context in
            struct Credits: Decodable { var available: Int }
            let user = context.parameters.get("user") ?? ""
            switch await request.decodeJSON(Credits.self, context: context, example: #"{"available": 0}"#) {
            case .failure(let failure): return Self.error(failure)
            case .success(let body):
                do {
                    try await simulation.setCredits(userID: user, available: body.available)
                } catch {
                    return Self.error(error)
                }
                return Responses.json(["user_id": .string(user), "available": .number(Double(body.available))])
            }
        }
        router.post("/_nemosim/tokens/revoke") { request, context in
            struct Revoke: Decodable { var token: String }
            switch await request.decodeJSON(Revoke.self, context: context, example: #"{"token": "nmv_usr_..."}"#) {
            case .failure(let failure): return Self.error(failure)
            case .success(let body):
                do {
                    try await simulation.revoke(token: body.token)
                } catch {
                    return Self.error(error)
                }
                return Responses.json(["status": "revoked"])
            }
        }
        router.post("/_nemosim/tokens/scopes") { request, context in
            struct Scopes: Decodable { var token: String; var scopes: [TokenScope] }
            switch await request.decodeJSON(Scopes.self, context: context, example: #"{"token": "nmv_usr_...", "scopes": ["read"]}"#) {
            case .failure(let failure): return Self.error(failure)
            case .success(let body):
                do {
                    try await simulation.setScopes(token: body.token, scopes: body.scopes)
                } catch {
                    return Self.error(error)
                }
                return Responses.json(["status": "updated", "scopes": .array(body.scopes.map { .string($0.rawValue) })])
            }
        }
    }

    static func error(_ error: any Error) -> Response {
        let failure = SimulatorFailure.from(error)
        let status: Int
        switch failure {
        case .http(let code, _): status = code
        case .code: status = 400
        }
        return Responses.json(["error": .string(failure.message)], status: .init(code: status))
    }
}

/// Build information.
public enum NemosimInfo {
    public static let version = "0.2.0"
}

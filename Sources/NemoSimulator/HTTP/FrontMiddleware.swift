import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore

/// Around every request: applies faults (armed, or from an
/// `X-Nemosim-Fault` header), guards the admin API, and writes the journal
/// entry once the response is fully sent.
struct FrontMiddleware: RouterMiddleware {
    typealias Context = SimulatorRequestContext

    let simulation: Simulation
    let adminToken: String?

    static let faultHeader = HTTPField.Name("X-Nemosim-Fault")!

    /// A deliberate close with no response (the `disconnect` fault).
    struct Disconnected: Error {}

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        // The router skips repeated slashes, so the guard must too.
        let routed = "/" + path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        if routed.hasPrefix("/_nemosim/") && !routed.hasPrefix("/_nemosim/media/") {
            if let refusal = guardAdmin(request, context: context) { return refusal }
            return try await next(request, context)
        }
        let started = ContinuousClock.now
        let arrival = simulation.clock.elapsed
        let method = request.method.rawValue
        var context = context
        var fault: FaultResponse?
        if let header = request.headers[Self.faultHeader] {
            do {
                fault = try JSONDecoder().decode(FaultResponse.self, from: Data(header.utf8))
            } catch {
                simulation.journal.append(.init(
                    elapsed: arrival, method: method, path: path, status: 400, code: 400, durationMs: 0,
                    missingAttribution: request.missingAttribution, fault: "invalid X-Nemosim-Fault"))
                return Responses.badRequest("X-Nemosim-Fault is not a valid fault: \(BehaviourProfile.describe(error)). Example: {\"code\": 1001}")
            }
        } else {
            fault = simulation.faults.take(method: method, path: path)
        }
        context.fault = fault
        let appliedFault = fault
        let missing = request.missingAttribution
        let simulation = self.simulation
        @Sendable func journal(status: Int, code: Int?) {
            let ms = (ContinuousClock.now - started).inSeconds * 1000
            simulation.journal.append(.init(
                elapsed: arrival, method: method, path: path, status: status, code: code, durationMs: (ms * 1000).rounded() / 1000,
                missingAttribution: missing, fault: appliedFault?.description))
        }

        var response: Response
        switch fault {
        case .code(let code):
            let mode = simulation.profile.errorStatusMode
            let failure = SimulatorFailure.code(ErrorCode(code), "\(ErrorCode(code).meaning) (fault injected by nemosim)")
            response = path.hasPrefix("/api/render/") ? Responses.renderFailure(failure, mode: mode) : Responses.failure(failure, mode: mode)
        case .httpStatus(let status):
            let message = DocumentedHTTPError(rawValue: status).map { "\($0.meaning): \($0.reaction.advice)" } ?? "HTTP \(status)"
            response = Responses.failure(SimulatorFailure.http(status, "\(message) (fault injected by nemosim)"), mode: .envelope)
        case .disconnect:
            journal(status: 0, code: nil)
            context.channel.close(promise: nil)
            throw Disconnected()
        case .delay(let seconds):
            try await simulation.clock.sleep(seconds: seconds)
            response = try await next(request, context)
        default:
            response = try await next(request, context)
        }
        let status = Int(response.status.code)
        let code = response.headers[Responses.codeField].flatMap(Int.init)
        response.headers[Responses.codeField] = nil
        let body = response.body
        guard body.contentLength == nil else {
            // A body already in memory is as good as sent: journal it now and
            // keep Hummingbird's fast path for in-memory bodies.
            journal(status: status, code: code)
            return response
        }
        // A streamed body (an event stream): journal it once fully written.
        response.body = ResponseBody { writer in
            do {
                try await body.write(writer)
                journal(status: status, code: code)
            } catch {
                journal(status: status, code: code)
                throw error
            }
        }
        return response
    }

    /// Loopback only, unless an admin token is set: then a bearer token.
    private func guardAdmin(_ request: Request, context: Context) -> Response? {
        if let adminToken {
            guard request.bearerToken == adminToken else {
                return Responses.json(["error": "the admin API needs Authorization: Bearer <admin token> (see --admin-token)"], status: .unauthorized)
            }
            return nil
        }
        guard context.isLoopback else {
            return Responses.json(["error": "the admin API answers loopback clients only; start nemosim with --admin-token to allow others"], status: .forbidden)
        }
        return nil
    }
}

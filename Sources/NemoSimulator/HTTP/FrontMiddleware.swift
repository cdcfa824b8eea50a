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

    /// What to do with a request, decided without suspending.
    enum Decision {
        /// Answer at once (a refusal, an injected error, a bad fault header).
        case respond(Response)
        /// Straight to the routes (the admin API).
        case passThrough
        /// To the routes with this fault, journaled by the plan.
        case run(Plan)
    }

    /// One request's fault and journal entry. A class, so the async frame of
    /// `handle` holds one pointer: each keep-alive connection's task keeps
    /// its deepest async stack for as long as it lives, so every byte here
    /// is paid per open connection (measured with heaptrack: this frame
    /// alone was 2.5 KiB of task stack per connection).
    final class Plan: Sendable {
        let simulation: Simulation
        let fault: FaultResponse?
        let started = ContinuousClock.now
        let arrival: Double
        let method: String
        let path: String
        let missingAttribution: [String]

        init(simulation: Simulation, fault: FaultResponse?, arrival: Double, method: String, path: String, missingAttribution: [String]) {
            self.simulation = simulation
            self.fault = fault
            self.arrival = arrival
            self.method = method
            self.path = path
            self.missingAttribution = missingAttribution
        }

        func journal(status: Int, code: Int?) {
            let ms = (ContinuousClock.now - started).inSeconds * 1000
            simulation.journal.append(.init(
                elapsed: arrival, method: method, path: path, status: status, code: code, durationMs: (ms * 1000).rounded() / 1000,
                missingAttribution: missingAttribution, fault: fault?.description))
        }

        /// Journals an in-memory response now, a streamed one once fully written.
        func finish(_ response: Response) -> Response {
            var response = response
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
            response.body = ResponseBody { [self] writer in
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
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch try decide(request, context: context) {
        case .respond(let response):
            return response
        case .passThrough:
            return try await next(request, context)
        case .run(let plan):
            if case .delay(let seconds) = plan.fault { try await simulation.clock.sleep(seconds: seconds) }
            var context = context
            context.fault = plan.fault
            return plan.finish(try await next(request, context))
        }
    }

    /// Everything that needs no suspension: the admin guard, the fault, and
    /// the answers that faults give instead of the routes.
    func decide(_ request: Request, context: Context) throws -> Decision {
        let path = request.uri.path
        if Self.isAdmin(path) {
            return guardAdmin(request, context: context).map(Decision.respond) ?? .passThrough
        }
        let arrival = simulation.clock.elapsed
        let method = request.method.rawValue
        let headers = HeaderScan(request.headers)
        let (missingAttribution, faultHeader) = (headers.missingAttribution, headers.fault)
        var fault: FaultResponse?
        if let header = faultHeader {
            do {
                fault = try JSONDecoder().decode(FaultResponse.self, from: Data(header.utf8))
            } catch {
                simulation.journal.append(.init(
                    elapsed: arrival, method: method, path: path, status: 400, code: 400, durationMs: 0,
                    missingAttribution: missingAttribution, fault: "invalid X-Nemosim-Fault"))
                return .respond(Responses.badRequest("X-Nemosim-Fault is not a valid fault: \(BehaviourProfile.describe(error)). Example: {\"code\": 1001}"))
            }
        } else {
            fault = simulation.faults.take(method: method, path: path)
        }
        let plan = Plan(simulation: simulation, fault: fault, arrival: arrival, method: method, path: path, missingAttribution: missingAttribution)
        switch fault {
        case .code(let code):
            let mode = simulation.profile.errorStatusMode
            let failure = SimulatorFailure.code(ErrorCode(code), "\(ErrorCode(code).meaning) (fault injected by nemosim)")
            return .respond(plan.finish(path.hasPrefix("/api/render/") ? Responses.renderFailure(failure, mode: mode) : Responses.failure(failure, mode: mode)))
        case .httpStatus(let status):
            let message = DocumentedHTTPError(rawValue: status).map { "\($0.meaning): \($0.reaction.advice)" } ?? "HTTP \(status)"
            return .respond(plan.finish(Responses.failure(SimulatorFailure.http(status, "\(message) (fault injected by nemosim)"), mode: .envelope)))
        case .disconnect:
            plan.journal(status: 0, code: nil)
            context.channel.close(promise: nil)
            throw Disconnected()
        default:
            return .run(plan)
        }
    }

    /// Whether a path is the admin API (not its public media). The router
    /// skips repeated slashes, so this check must too (`//_nemosim/reset`);
    /// the common case, a path with no doubled slash, costs one scan.
    static func isAdmin(_ path: String) -> Bool {
        var previousSlash = false
        var doubled = false
        for byte in path.utf8 {
            let slash = byte == UInt8(ascii: "/")
            if slash && previousSlash { doubled = true; break }
            previousSlash = slash
        }
        let routed = doubled ? "/" + path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/") : path
        return routed.hasPrefix("/_nemosim/") && !routed.hasPrefix("/_nemosim/media/")
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

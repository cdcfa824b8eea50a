import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NemoCore
import NemoHTTPServer

/// Around every API request (the admin API has its own guard): applies
/// faults (armed, or from an `X-Nemosim-Fault` header), turns every failure
/// a handler throws into the route's envelope (the one place that does),
/// and writes the journal entry once the response is fully sent.
///
/// It runs after the router has resolved the path, so it knows the route
/// (``Route``) a request is for: its envelope for errors, and whether a
/// success carries an envelope code.
struct FrontMiddleware: RouterMiddleware {
    typealias Context = SimulatorRequestContext

    let simulation: Simulation

    /// A deliberate close with no response (the `disconnect` fault).
    struct Disconnected: Error {}

    /// What to do with a request, decided without suspending.
    enum Decision {
        /// Answer at once (an injected error, a bad fault header).
        case respond(Response)
        /// Straight to the routes (the admin API).
        case passThrough
        /// To the routes with this fault, journaled by the plan.
        case run(Plan)
    }

    /// The API routes by their router template (what Hummingbird reports
    /// as a request's endpoint path) and method: one template may serve
    /// several methods (`GET` and `POST /api/tokens`).
    static let routes = Dictionary(grouping: Route.all, by: \.template)

    /// The route of a request, by its endpoint path and method.
    static func route(_ endpoint: String, method: String) -> Route? {
        guard let candidates = routes[endpoint] else { return nil }
        return candidates.first { $0.method == method } ?? candidates.first
    }

    /// One request's fault, route and journal entry. A class, so the async
    /// frame of `handle` holds one pointer: each keep-alive connection's task
    /// keeps its deepest async stack for as long as it lives, so every byte
    /// here is paid per open connection (measured with heaptrack: this frame
    /// alone was 2.5 KiB of task stack per connection).
    final class Plan: Sendable {
        let simulation: Simulation
        let fault: FaultResponse?
        /// The API route; nil for the simulator's media and unknown paths.
        let route: Route?
        let started = ContinuousClock.now
        let wall = Date().timeIntervalSince1970
        let arrival: Double
        let method: String
        let path: String
        let query: String?
        /// The request's headers, packed as the journal keeps them (one
        /// string: a request held for minutes, an event stream, keeps this
        /// rather than the parsed fields; redacted when read).
        let headers: String
        let remote: SocketAddress?
        let missingAttribution: [String]
        /// What the handlers and the domain learn about the request.
        let note: JournalNote

        init(
            simulation: Simulation, fault: FaultResponse?, route: Route?, arrival: Double, method: String, path: String, query: String? = nil,
            headers: HTTPFields, authority: String?, remote: SocketAddress?, missingAttribution: [String]
        ) {
            note = JournalNote(host: authority)
            self.simulation = simulation
            self.fault = fault
            self.route = route
            self.arrival = arrival
            self.method = method
            self.path = path
            self.query = query
            self.headers = RequestJournal.Record.pack(headers)
            self.remote = remote
            self.missingAttribution = missingAttribution
        }

        func journal(status: Int, code: Int?) {
            let ms = (ContinuousClock.now - started).inSeconds * 1000
            simulation.journal.append(.init(
                elapsed: arrival, endElapsed: simulation.clock.elapsed, wall: wall, remote: remote, method: method, path: path, query: query, packedHeaders: headers, status: status,
                code: code, durationMs: (ms * 1000).rounded() / 1000, missingAttribution: missingAttribution, fault: fault?.description,
                note: note))
        }

        /// The answer to a failure, in the route's envelope and the
        /// profile's error mode, journaled.
        @inline(never) func failure(_ error: any Error) -> Response {
            let answer = SimulatorFailure.from(error).answer(envelope: route?.envelope ?? .standard, mode: simulation.profile.errorStatusMode)
            journal(status: Int(answer.status.code), code: answer.code)
            return answer.response
        }

        /// Journals a response: one in memory now, a streamed one once fully
        /// written. A success on a JSON route carries code 0.
        @inline(never) func finish(_ response: Response) -> Response {
            let status = Int(response.status.code)
            let code = route?.body == .json && (200..<300).contains(status) ? 0 : nil
            let body = response.body
            guard body.contentLength == nil else {
                // A body already in memory is as good as sent: journal it now and
                // keep Hummingbird's fast path for in-memory bodies.
                journal(status: status, code: code)
                return response
            }
            // A streamed body (an event stream): journal it once fully written.
            var response = response
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
            if let seconds = plan.fault?.delaySeconds { try await simulation.clock.sleep(seconds: seconds) }
            var context = context
            context.fault = plan.fault
            do {
                guard plan.route?.body == .eventStream else {
                    return plan.finish(try await JournalNote.$current.withValue(plan.note) { try await next(request, context) })
                }
                // An event stream's request is answered in a child task: a
                // task keeps the memory of its deepest async frames for as
                // long as it lives (the task allocator keeps its slabs), and
                // the connection's task lives as long as the stream, while
                // routing, reading the body and starting the operation are the
                // deepest part of any request (about 1 KiB per level).
                return plan.finish(try await withoutActuallyEscaping(next) { next in
                    // The child is awaited before this returns: `next` and
                    // `context` are never used by two tasks at once.
                    let call = UncheckedCall(next: next, request: request, context: context)
                    async let answer = JournalNote.$current.withValue(plan.note) { try await call.run() }
                    return try await answer
                })
            } catch {
                return plan.failure(error)
            }
        }
    }

    /// Everything that needs no suspension: the fault, and the answers that
    /// faults give instead of the routes.
    func decide(_ request: Request, context: Context) throws -> Decision {
        let endpoint = context.endpointPath ?? ""
        if endpoint.hasPrefix("/_nemosim/") && !endpoint.hasPrefix("/_nemosim/media/") { return .passThrough }
        let path = request.uri.path
        let arrival = simulation.clock.elapsed
        let method = request.method.rawValue
        let headers = HeaderScan(request.headers)
        let route = Self.route(endpoint, method: method)
        var fault: FaultResponse?
        if let header = headers.fault {
            do {
                fault = try JSONDecoder().decode(FaultResponse.self, from: Data(header.utf8))
            } catch {
                simulation.journal.append(.init(
                    elapsed: arrival, remote: context.channel.remoteAddress, method: method, path: path, query: request.uri.query,
                    headers: request.headers, status: 400, code: 400, durationMs: 0, missingAttribution: headers.missingAttribution,
                    fault: "invalid X-Nemosim-Fault"))
                let message = "X-Nemosim-Fault is not a valid fault: \(BehaviourProfile.describe(error)). Example: {\"code\": 1001}"
                return .respond(JSONAnswer.error(status: .badRequest, code: 400, message: message, envelope: route?.envelope ?? .standard).response)
            }
        } else {
            fault = simulation.faults.take(method: method, path: path)
        }
        let plan = Plan(
            simulation: simulation, fault: fault, route: route, arrival: arrival, method: method, path: path, query: request.uri.query,
            headers: request.headers, authority: request.head.authority, remote: context.channel.remoteAddress, missingAttribution: headers.missingAttribution)
        // The session a path names, even when the call fails (a fault, a bad token) before the domain looks at it.
        if let session = context.parameters.get("session_id") { plan.note.session(session) }
        if let failure = fault?.failure { return .respond(plan.failure(failure)) }
        if fault?.disconnects == true {
            if route?.body == .eventStream { plan.note.streamEnded(.fault) }
            plan.journal(status: 0, code: nil)
            context.channel.close(promise: nil)
            throw Disconnected()
        }
        return .run(plan)
    }
}

/// A call handed to a child task that its parent awaits at once (see
/// `FrontMiddleware.handle`).
private struct UncheckedCall<Context>: @unchecked Sendable {
    let next: (Request, Context) async throws -> Response
    let request: Request
    let context: Context

    func run() async throws -> Response { try await next(request, context) }
}

import Foundation
import NemoCore
import NemoHTTPServer

extension Simulation {
    /// The successful answer to a polled route (``Route/polled``: credits,
    /// session state, render status), in the profile's render shape; a
    /// failure is thrown for the caller to envelope. Synchronous: the event
    /// loop the actor runs on calls it directly (``PolledRouteHandler``),
    /// and the router's handlers call it too, so both paths answer alike.
    func polledAnswer(
        _ route: Route, parameters: [String: String], token: String?, missingAttribution: [String]
    ) throws(SimulatorFailure) -> JSONAnswer {
        switch route.name {
        case Route.credits.name:
            let balance = try credits(token: token, missingAttribution: missingAttribution)
            // Written into the body as it goes (no string in between): the most polled answer.
            return .success(dataCapacity: 80) { body in
                body.writeStaticString(#"{"available":"#)
                body.writeString(String(balance.available))
                body.writeStaticString(#","frozen":"#)
                body.writeString(String(balance.frozen))
                body.writeStaticString(#","total":"#)
                body.writeString(String(balance.total))
                body.writeStaticString("}")
            }
        case Route.state.name:
            return .success(try state(token: token, missingAttribution: missingAttribution, userPath: parameters["user_id"] ?? "me", sessionID: parameters["session_id"] ?? ""))
        case Route.renderStatus.name:
            return .render(try renderStatus(token: token, missingAttribution: missingAttribution, id: parameters["id"] ?? ""), shape: profile.renderShape)
        default:
            throw .http(500, "internal error: \(route) is not a polled route")
        }
    }

    /// ``polledAnswer(_:parameters:token:)`` with a failure in the route's
    /// envelope and the profile's error mode (the event loop's answers).
    func answer(_ route: Route, parameters: [String: String], token: String?, missingAttribution: [String], note: JournalNote? = nil) -> JSONAnswer {
        polledNote = note
        defer { polledNote = nil }
        do {
            return try polledAnswer(route, parameters: parameters, token: token, missingAttribution: missingAttribution)
        } catch {
            return error.answer(envelope: route.envelope, mode: profile.errorStatusMode)
        }
    }
}

import Foundation
import NemoCore

/// The GET endpoints clients poll in loops (credits, session state, render
/// status). The domain answers them without suspending, so both the router
/// and the event loop (``PolledRouteHandler``) answer them, with the same
/// ``Simulation/answer(_:token:)``.
enum PolledRoute: Sendable, Equatable {
    /// `GET /api/credits/balance/simple`
    case credits
    /// `GET /api/state/nemo_agent/{user}/{session}/latest`
    case state(user: String, session: String)
    /// `GET /api/render/proxy/lambda/{id}`
    case renderStatus(id: String)

    /// The route of a path in its plain form, or nil. Anything the router
    /// might read differently (a query, percent-encoding, empty or dot
    /// components, a trailing slash) is nil and left to the router.
    static func match(_ path: String) -> PolledRoute? {
        guard path.utf8.first == UInt8(ascii: "/"), path.utf8.count < 1024 else { return nil }
        for byte in path.utf8 where byte == UInt8(ascii: "?") || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "#") {
            return nil
        }
        let parts = path.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && !$0.elementsEqual(".".utf8) && !$0.elementsEqual("..".utf8) }),
            parts.count >= 4, parts[0].elementsEqual("api".utf8)
        else { return nil }
        func text(_ index: Int) -> String { String(Substring(parts[index])) }
        switch parts.count {
        case 4 where parts[1].elementsEqual("credits".utf8) && parts[2].elementsEqual("balance".utf8) && parts[3].elementsEqual("simple".utf8):
            return .credits
        case 6 where parts[1].elementsEqual("state".utf8) && parts[2].elementsEqual("nemo_agent".utf8) && parts[5].elementsEqual("latest".utf8):
            return .state(user: text(3), session: text(4))
        // `/api/render/proxy/lambda/download` is also the shape of the
        // download route (`/api/render/proxy/{id}/download`): the router's.
        case 5 where parts[1].elementsEqual("render".utf8) && parts[2].elementsEqual("proxy".utf8) && parts[3].elementsEqual("lambda".utf8)
            && !parts[4].elementsEqual("download".utf8):
            return .renderStatus(id: text(4))
        default:
            return nil
        }
    }
}

extension Simulation {
    /// The answer to a polled route, failures included, in the profile's
    /// error mode and render shape. Synchronous: the event loop the actor
    /// runs on calls it directly.
    func answer(_ route: PolledRoute, token: String?) -> Answer {
        let profile = self.profile
        switch route {
        case .credits:
            do {
                let balance = try credits(token: token)
                return .success(dataJSON: #"{"available":\#(balance.available),"frozen":\#(balance.frozen),"total":\#(balance.total)}"#)
            } catch {
                return .failure(error, mode: profile.errorStatusMode)
            }
        case .state(let user, let session):
            do {
                return .success(StateResponse(state: try state(token: token, userPath: user, sessionID: session)))
            } catch {
                return .failure(error, mode: profile.errorStatusMode)
            }
        case .renderStatus(let id):
            do {
                return .render(try renderStatus(token: token, id: id), shape: profile.renderShape)
            } catch {
                return .renderFailure(error, mode: profile.errorStatusMode)
            }
        }
    }
}

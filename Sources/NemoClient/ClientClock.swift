import Foundation
import NemoCore
import Synchronization

/// The clock the client waits on. Waits are in API seconds; a scaled clock
/// divides them by the server's time scale.
public protocol ClientClock: Sendable {
    /// Waits `seconds` of API time.
    func sleep(seconds: Double) async throws
    /// API seconds since an arbitrary start.
    var now: Double { get }
}

/// Real time divided by a scale: with scale 1000, "wait 30 s" takes 30 ms.
public struct ScaledClock: ClientClock {
    public let timeScale: Double
    private let start = ContinuousClock.now

    public init(timeScale: Double = 1) {
        self.timeScale = max(timeScale, 1e-9)
    }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(for: .seconds(clamping: seconds / timeScale))
    }

    public var now: Double {
        (ContinuousClock.now - start).inSeconds * timeScale
    }
}

/// A clock that moves only when ``advance(by:)`` is called: a wait ends
/// exactly when API time reaches it. For tests of the client's loops with
/// no real time passing. With ``autoAdvance`` on, each wait is skipped to
/// at once, so a request loop runs to its end in no time with every wait
/// recorded (not for event streams: their watchdog's waits would jump time
/// too; drive those with ``nextWake``).
public final class ManualClientClock: ClientClock {
    private struct Sleeper {
        var target: Double
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Double = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())
    /// Jump to each wait's end as soon as it starts.
    public let autoAdvance: Bool

    public init(autoAdvance: Bool = false) {
        self.autoAdvance = autoAdvance
    }

    public var now: Double { state.withLock { $0.now } }

    /// How many waits are pending.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// When the earliest pending wait ends, if any.
    public var nextWake: Double? { state.withLock { $0.sleepers.values.map(\.target).min() } }

    /// Moves time forward, ending every wait that is due.
    public func advance(by seconds: Double) {
        guard seconds > 0 else { return }
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now += seconds
            let ready = state.sleepers.filter { $0.value.target <= state.now }
            for id in ready.keys { state.sleepers[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else { return }
        if autoAdvance {
            try Task.checkCancellation()
            advance(by: seconds)
            await Task.yield()
            return
        }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let target = now + seconds
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if state.now >= target { return .success(()) }
                    state.sleepers[id] = Sleeper(target: target, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let sleeper = state.sleepers.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        _ = state.withLock { $0.cancelled.remove(id) }
    }
}

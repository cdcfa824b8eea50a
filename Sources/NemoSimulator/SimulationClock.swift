import Foundation
import NemoCore
import Synchronization

/// The simulator's clock: simulated time runs at `timeScale` × real time
/// from a start instant, plus an offset that ``advance(by:)`` jumps forward.
///
/// With time scale 1000 a 90 s render takes 90 ms of real time. Nothing in
/// the simulator reads the wall clock except through this type.
public final class SimulationClock: Sendable {
    /// Simulated seconds per real second.
    public let timeScale: Double
    /// The simulated date at which the clock started.
    public let origin: Date
    private let realStart: ContinuousClock.Instant
    private let offset = Mutex<Double>(0)

    /// - Parameters:
    ///   - timeScale: simulated seconds per real second (1 = real time).
    ///   - origin: the simulated date at start (default: the wall clock now).
    public init(timeScale: Double = 1, origin: Date = Date()) {
        self.timeScale = timeScale
        self.origin = origin
        self.realStart = ContinuousClock.now
    }

    /// Simulated seconds since ``origin``.
    public var elapsed: Double {
        (ContinuousClock.now - realStart).inSeconds * timeScale + offset.withLock { $0 }
    }

    /// The simulated date now.
    public var now: Date { origin.addingTimeInterval(elapsed) }

    /// The total jump applied by ``advance(by:)``, in simulated seconds.
    public var advancedSeconds: Double { offset.withLock { $0 } }

    /// Jumps simulated time forward (tokens and sessions expire, renders finish).
    public func advance(by seconds: Double) {
        guard seconds > 0 else { return }
        offset.withLock { $0 += seconds }
    }

    /// The longest a sleeper waits before re-reading the clock, in real
    /// seconds: a jump by ``advance(by:)`` reaches sleepers within this.
    public static let recheckInterval = 0.25

    /// Sleeps until simulated time reaches `elapsed` (seconds since origin).
    /// Notices a jump by ``advance(by:)`` within ``recheckInterval`` of real
    /// time (sleepers re-read the clock at least that often).
    public func sleep(untilElapsed target: Double) async throws {
        while true {
            let remaining = target - elapsed
            if remaining <= 0 { return }
            let realSeconds = min(remaining / timeScale, Self.recheckInterval)
            try await Task.sleep(for: .nanoseconds(Int64(max(realSeconds, 0.0005) * 1e9)))
        }
    }

    /// Sleeps for `seconds` of simulated time.
    public func sleep(seconds: Double) async throws {
        try await sleep(untilElapsed: elapsed + seconds)
    }
}

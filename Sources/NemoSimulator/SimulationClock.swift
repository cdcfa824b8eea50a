import Foundation
import NemoCore
import Synchronization

/// The simulator's clock: simulated seconds since an origin, a time scale it
/// announces to clients, and jumps forward (``advance(by:)``). Nothing in the
/// simulator reads the wall clock except through one of these.
///
/// Two conformances: ``ScaledSimulationClock`` runs at a multiple of real
/// time (`nemosim serve`); ``ManualSimulationClock`` moves only when told to
/// (tests: no real time passes, so nothing depends on the machine's load).
public protocol SimulationClock: AnyObject, Sendable {
    /// Simulated seconds per real second, as announced at `/_nemosim/health`.
    var timeScale: Double { get }
    /// The simulated date at which the clock started.
    var origin: Date { get }
    /// Simulated seconds since ``origin``.
    var elapsed: Double { get }
    /// The total jump applied by ``advance(by:)``, in simulated seconds.
    var advancedSeconds: Double { get }
    /// Jumps simulated time forward (tokens and sessions expire, renders finish).
    func advance(by seconds: Double)
    /// Returns once simulated time reaches `target` (seconds since origin).
    func sleep(untilElapsed target: Double) async throws
    /// How long (real seconds) a timer should wait before reading the clock
    /// again on its way to `target`: 0 once it is reached; nil when only
    /// ``sleep(untilElapsed:)`` can wait for it (a clock moved by hand). The
    /// event loop's streams wait with timers this way, tasks with `sleep`.
    func realSecondsToWait(untilElapsed target: Double) -> Double?
}

extension SimulationClock {
    public func realSecondsToWait(untilElapsed target: Double) -> Double? { nil }
}

extension SimulationClock {
    /// The simulated date now.
    public var now: Date { origin.addingTimeInterval(elapsed) }

    /// Sleeps for `seconds` of simulated time.
    public func sleep(seconds: Double) async throws {
        try await sleep(untilElapsed: elapsed + seconds)
    }
}

/// Simulated time at `timeScale` × real time from the moment it was made,
/// plus the jumps of ``advance(by:)``. With time scale 1000 a 90 s render
/// takes 90 ms of real time.
public final class ScaledSimulationClock: SimulationClock {
    public let timeScale: Double
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

    public var elapsed: Double {
        (ContinuousClock.now - realStart).inSeconds * timeScale + offset.withLock { $0 }
    }

    public var advancedSeconds: Double { offset.withLock { $0 } }

    public func advance(by seconds: Double) {
        guard seconds > 0 else { return }
        offset.withLock { $0 += seconds }
    }

    /// The longest a sleeper waits before re-reading the clock, in real
    /// seconds: a jump by ``advance(by:)`` reaches sleepers within this.
    public static let recheckInterval = 0.25

    /// Notices a jump by ``advance(by:)`` within ``recheckInterval`` of real
    /// time (sleepers re-read the clock at least that often).
    public func sleep(untilElapsed target: Double) async throws {
        while let realSeconds = realSecondsToWait(untilElapsed: target), realSeconds > 0 {
            try await Task.sleep(for: .seconds(clamping: realSeconds))
        }
    }

    public func realSecondsToWait(untilElapsed target: Double) -> Double? {
        let remaining = target - elapsed
        if remaining <= 0 { return 0 }
        return max(min(remaining / timeScale, Self.recheckInterval), 0.0005)
    }
}

/// A clock that moves only when ``advance(by:)`` is called: sleepers wake
/// exactly when simulated time reaches them, whatever real time passes. For
/// tests (and for anyone stepping a simulation by hand).
public final class ManualSimulationClock: SimulationClock {
    public let timeScale: Double
    public let origin: Date

    private struct Sleeper {
        var target: Double
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var elapsed: Double = 0
        var advanced: Double = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - timeScale: the scale announced to clients (it paces nothing here).
    ///   - origin: the simulated date at start.
    public init(timeScale: Double = 1000, origin: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        self.timeScale = timeScale
        self.origin = origin
    }

    public var elapsed: Double { state.withLock { $0.elapsed } }
    public var advancedSeconds: Double { state.withLock { $0.advanced } }

    /// How many tasks are asleep on this clock now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest time a sleeper waits for, if any.
    public var nextWake: Double? { state.withLock { $0.sleepers.values.map(\.target).min() } }

    public func advance(by seconds: Double) {
        guard seconds > 0 else { return }
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.elapsed += seconds
            state.advanced += seconds
            let ready = state.sleepers.filter { $0.value.target <= state.elapsed }
            for id in ready.keys { state.sleepers[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// Returns once at least `count` tasks are asleep on this clock (a
    /// test's way to know that a stream is waiting for its next event).
    public func waitForSleepers(_ count: Int = 1) async {
        while sleeperCount < count { await Task.yield() }
    }

    public func sleep(untilElapsed target: Double) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if state.elapsed >= target { return .success(()) }
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
        // A cancellation that came after the wake leaves its mark: clear it.
        _ = state.withLock { $0.cancelled.remove(id) }
    }
}

import Foundation
import Synchronization

/// The time recordings are measured in and replays are paced by: real time
/// by default (``ContinuousRecordingClock``); in tests, a
/// ``ManualRecordingClock`` that moves only when something sleeps on it, so
/// a replay's offsets are exactly the recorded ones whatever the machine's
/// load. Times are milliseconds since the clock's own start.
public protocol RecordingClock: Sendable {
    /// Milliseconds since the clock started.
    var nowMs: Double { get }
    /// Returns once the clock reads `ms`.
    func sleep(untilMs ms: Double) async throws
}

/// Real time.
public struct ContinuousRecordingClock: RecordingClock {
    private let start = ContinuousClock.now

    public init() {}

    public var nowMs: Double { ((ContinuousClock.now - start).inSeconds * 1_000_000).rounded() / 1000 }

    public func sleep(untilMs ms: Double) async throws {
        try await Task.sleep(until: start + .seconds(clamping: ms / 1000), clock: .continuous)
    }
}

/// A clock that jumps to each sleep's end as soon as it is asked for
/// (sleeps never wait) and records the moments asked for. For tests.
public final class ManualRecordingClock: RecordingClock {
    private let state = Mutex<(now: Double, sleeps: [Double])>((0, []))

    public init() {}

    public var nowMs: Double { state.withLock { $0.now } }

    /// Every moment a sleep asked for, in order.
    public var sleeps: [Double] { state.withLock { $0.sleeps } }

    public func sleep(untilMs ms: Double) async throws {
        try Task.checkCancellation()
        state.withLock { state in
            state.sleeps.append(ms)
            state.now = max(state.now, ms)
        }
    }
}

extension RecordingClock where Self == ContinuousRecordingClock {
    /// Real time.
    public static var continuous: ContinuousRecordingClock { ContinuousRecordingClock() }
}

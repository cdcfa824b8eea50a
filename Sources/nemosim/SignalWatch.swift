import Foundation
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM for a command: the first runs `first` with
/// the signal (what stopping means for that command); a second exits at
/// once, status 128 + the signal. `serve` says it is stopping (its server
/// stops itself); `run` and `conformance` put their target back
/// (``Interruption``).
final class SignalWatch: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let count = Mutex(0)

    /// - Parameter ignoreFirst: set the signals to SIG_IGN before watching,
    ///   so that only the watch sees them. Not where something else already
    ///   watches (a server's ServiceLifecycle): on Linux, libdispatch
    ///   installs its handler when that watch starts, and a later SIG_IGN
    ///   would replace it, silencing both.
    init(ignoreFirst: Bool, first: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "nemosim.signals")
        let numbers = [SIGINT, SIGTERM]
        if ignoreFirst { for number in numbers { signal(number, SIG_IGN) } }
        sources = numbers.map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        for (source, number) in zip(sources, numbers) {
            source.setEventHandler { [weak self] in self?.received(number, first) }
            source.resume()
        }
    }

    private func received(_ number: Int32, _ first: @Sendable (Int32) -> Void) {
        let seen = count.withLock { count in
            count += 1
            return count
        }
        guard seen == 1 else {
            FileHandle.standardError.write(Data("nemosim: stopped at once\n".utf8))
            _exit(128 + number)
        }
        first(number)
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

import Dispatch

/// A serial executor on a dispatch queue: where the domain actor runs when
/// no event loop is given (a ``Simulation`` made in a test, or used from
/// Swift without a server).
final class QueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

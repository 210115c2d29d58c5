import Foundation

/// Threads of their own for an in-process service in tests (request handlers and what they await). Started
/// with `Task(executorPreference:)`, every task the server creates prefers these threads, so the test
/// runner's long synchronous tests, which block the shared concurrency pool, cannot stall the answers to
/// cameras. `bodycam-records serve` does not use it: with a task executor preference the service's teardown
/// can deadlock (ServerTeardownTests), and the serving process never blocks the shared pool.
public final class ServiceExecutor: TaskExecutor, @unchecked Sendable { // the queue is guarded by `condition`
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var next = 0

    public init(threads: Int = 2) {
        for i in 0..<max(1, threads) {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "bodycam-records-\(i)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while next == jobs.count { condition.wait() }
            let job = jobs[next]
            next += 1
            // Drop what has run once the queue is drained (or grows long), so it never grows without bound.
            if next == jobs.count || next > 1024 {
                jobs.removeFirst(next)
                next = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// One for the process: its threads live as long as the process does.
    public static let shared = ServiceExecutor()
}

import BodycamCore
import BodycamEvidence

/// Threads of their own for an in-process live view in tests: synchronous tests block Swift's shared pool
/// (two threads on two cores), which would stall the server. Not used by `bodycam run`: with a task
/// executor preference, the server's teardown can deadlock (see ServerTeardownTests), and the rig's
/// `stop` only waits a bounded time for it.
final class TestTaskExecutor: TaskExecutor, @unchecked Sendable { // `jobs` is guarded by `lock`
    private let lock = ConditionLock()
    private let ready = Condition()
    private var jobs: [UnownedJob] = []
    private var next = 0

    init(threads: Int) {
        for _ in 0..<max(1, threads) {
            _ = OSThread { [unowned self] in self.work() } // lives as long as the process
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.withLock {
            jobs.append(job)
            lock.broadcast(ready)
        }
    }

    private func work() {
        while true {
            let job: UnownedJob = lock.withLock {
                while next == jobs.count { lock.wait(ready) }
                let job = jobs[next]
                next += 1
                // Drop what has run once drained (or long), so the list never grows without bound.
                if next == jobs.count || next > 1024 {
                    jobs.removeFirst(next)
                    next = 0
                }
                return job
            }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// One executor for every live view in the test process (tests start several servers).
    static let shared = TestTaskExecutor(threads: 2)
}

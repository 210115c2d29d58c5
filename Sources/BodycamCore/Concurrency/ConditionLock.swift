import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable, allocated once. The frame path holds it only to move
/// ring cursors, never across encoding or I/O. Waiters with different predicates should wait on their
/// own `Condition` (see `wait(_:)`), so that a waker always wakes the side that can make progress.
public final class ConditionLock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = Condition()

    public init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Takes the lock only if it is free at once (true: taken; `unlock` it). For a side that must never wait.
    public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }
    /// Waits for a `broadcast`; call with the lock held. May wake spuriously: re-check the condition.
    public func wait() { wait(condition) }
    public func broadcast() { broadcast(condition) }

    /// Waits on `c` (with this lock held) for a `broadcast(c)`. May wake spuriously.
    public func wait(_ c: Condition) { pthread_cond_wait(c.cond, mutex) }

    /// Waits on `c` for at most `timeout` of CLOCK_MONOTONIC. May wake early: re-check the condition.
    public func wait(_ c: Condition, timeout: Nanos) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let deadline = Nanos(ts.tv_sec) * Nanos.perSecond + Nanos(ts.tv_nsec) + max(0, timeout)
        ts.tv_sec = Int(deadline / Nanos.perSecond)
        ts.tv_nsec = Int(deadline % Nanos.perSecond)
        pthread_cond_timedwait(c.cond, mutex, &ts)
    }

    /// Wakes every waiter of `c`. Call it with the lock held, after changing what they wait for.
    public func broadcast(_ c: Condition) { pthread_cond_broadcast(c.cond) }

    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable (on CLOCK_MONOTONIC, for timed waits), used with a `ConditionLock`.
public final class Condition: @unchecked Sendable {
    fileprivate let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }
}

/// A plain joinable OS thread (the writer): it blocks on I/O, which Swift concurrency's pool must not.
public final class OSThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    public init(_ body: @escaping () -> Void) {
        self.body = body
        let unmanaged = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { arg in
            let me = Unmanaged<OSThread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, unmanaged.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() { pthread_join(thread, nil) }
}

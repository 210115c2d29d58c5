import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// One process per storage: an exclusive `flock` on `<storage>/lock`, held for the process's life (the
/// kernel releases it when the process ends, however it ends). A second camera, or `bodycam recover`
/// beside a running camera, gets a clear refusal instead of racing for recording ids and renaming the
/// running camera's open segment.
public final class StorageLock {
    public static let fileName = "lock"
    private let fd: Int32

    public struct Busy: Error, CustomStringConvertible {
        public var storage: String
        public var holder: String
        public var description: String { "storage \(storage) is in use by another bodycam process\(holder) (one process per storage)" }
    }

    /// Takes the lock or throws `Busy` (another process holds it) or `IOError`.
    public init(storage: String) throws {
        try PosixFile.makeDirectories(storage)
        let path = storage + "/" + Self.fileName
        let fd = retrying { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640) }
        guard fd >= 0 else { throw IOError(operation: "open", path: path, errno: errno) }
        guard retrying({ flock(fd, LOCK_EX | LOCK_NB) }) == 0 else {
            let e = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard e == EWOULDBLOCK else { throw IOError(operation: "lock", path: path, errno: e) }
            let pid = n > 0 ? String(decoding: buffer[0..<n].filter { $0 >= 48 && $0 <= 57 }, as: UTF8.self) : ""
            throw Busy(storage: storage, holder: pid.isEmpty ? "" : " (pid \(pid))")
        }
        // Who holds it, for the message a second process prints (information only: the lock is the flock).
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}

#if canImport(Glibc)
import Glibc
#endif

/// A failed file-system call: which call, on what, and errno.
public struct IOError: Error, Equatable, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    public var errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    /// The file system is full (ENOSPC) or over quota (EDQUOT).
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }
}

/// An open file descriptor with the few calls the writer needs. Every call retries EINTR and finishes
/// partial writes, so callers see either "all bytes written" or an `IOError`.
public struct PosixFile {
    public let fd: Int32
    public let path: String

    /// Takes ownership of an open descriptor.
    public init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Creates a new file; fails if it exists (we never overwrite evidence).
    public static func createNew(_ path: String, mode: mode_t = 0o640) throws(IOError) -> PosixFile {
        let fd = retrying { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw IOError(operation: "create", path: path, errno: errno) }
        return PosixFile(fd: fd, path: path)
    }

    /// Opens an existing regular file for reading (or reading and writing). No symlink is followed
    /// (O_NOFOLLOW) and a FIFO or device cannot block the open (O_NONBLOCK, then fstat): anything but a
    /// regular file fails with EINVAL.
    public static func openExisting(_ path: String, writable: Bool = false, at dirfd: Int32 = AT_FDCWD) throws(IOError) -> PosixFile {
        let fd = retrying { openat(dirfd, path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw IOError(operation: "open", path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            _ = Glibc.close(fd)
            throw IOError(operation: "fstat", path: path, errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            _ = Glibc.close(fd)
            throw IOError(operation: "open (not a regular file)", path: path, errno: EINVAL)
        }
        return PosixFile(fd: fd, path: path)
    }

    /// The file's size now (fstat).
    public func size() throws(IOError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IOError(operation: "fstat", path: path, errno: errno) }
        return Int(st.st_size)
    }

    /// Reads `buffer.count` bytes at `offset`, retrying EINTR and short reads. Returns the bytes read:
    /// fewer only at the end of the file.
    public func pread(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(IOError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = retrying { Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }
            guard n >= 0 else { throw IOError(operation: "read", path: path, errno: errno) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(IOError) {
        var done = 0
        while done < bytes.count {
            let n = retrying { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { throw IOError(operation: "write", path: path, errno: n == 0 ? EIO : errno) }
            done += n
        }
    }

    /// Gathers several buffers into one system call (chunk header, frame, padding). `iov` is the
    /// caller's preallocated array; it is consumed (adjusted) by partial writes.
    public func writev(_ iov: UnsafeMutableBufferPointer<iovec>, count: Int) throws(IOError) {
        var first = 0
        while first < count {
            let n = retrying { Glibc.writev(fd, iov.baseAddress! + first, Int32(count - first)) }
            guard n > 0 else { throw IOError(operation: "write", path: path, errno: n == 0 ? EIO : errno) }
            var left = n
            while first < count && left >= iov[first].iov_len {
                left -= iov[first].iov_len
                first += 1
            }
            if left > 0 {
                iov[first].iov_base += left
                iov[first].iov_len -= left
            }
        }
    }

    public func pwrite(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(IOError) {
        var done = 0
        while done < bytes.count {
            let n = retrying { Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            guard n > 0 else { throw IOError(operation: "write", path: path, errno: n == 0 ? EIO : errno) }
            done += n
        }
    }

    /// Cuts the file to `length` bytes and continues writing there.
    public func truncate(to length: Int) throws(IOError) {
        guard retrying({ ftruncate(fd, off_t(length)) }) == 0, lseek(fd, off_t(length), SEEK_SET) >= 0 else {
            throw IOError(operation: "truncate", path: path, errno: errno)
        }
    }

    /// Makes everything written so far durable (survives a power cut).
    public func sync() throws(IOError) {
        guard retrying({ fsync(fd) }) == 0 else { throw IOError(operation: "fsync", path: path, errno: errno) }
    }

    public func close() { _ = Glibc.close(fd) }

    /// Renames atomically and makes the rename itself durable by syncing the directory.
    public static func renameDurably(from: String, to: String, directory: String) throws(IOError) {
        guard rename(from, to) == 0 else { throw IOError(operation: "rename", path: from, errno: errno) }
        try syncDirectory(directory)
    }

    /// Removes a file (if there) and makes the removal durable.
    public static func removeDurably(_ path: String) throws(IOError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw IOError(operation: "unlink", path: path, errno: errno) }
        try syncDirectory(path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ".")
    }

    public static func syncDirectory(_ directory: String) throws(IOError) {
        let dfd = retrying { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard dfd >= 0 else { throw IOError(operation: "open", path: directory, errno: errno) }
        defer { _ = Glibc.close(dfd) }
        guard retrying({ fsync(dfd) }) == 0 else { throw IOError(operation: "fsync", path: directory, errno: errno) }
    }

    /// Creates a directory and its parents (like mkdir -p).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o750) throws(IOError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw IOError(operation: "mkdir", path: current, errno: errno)
            }
        }
    }

    /// Names in a directory (not "." or ".."), unsorted; empty if it does not exist.
    public static func list(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Size of a file in bytes, nil if it cannot be read.
    public static func size(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// True if anything (file, folder, link) has this name; a symbolic link is not followed.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// What a name is, without following a symbolic link.
    public enum Kind: Equatable, Sendable { case missing, regular, directory, other }
    public static func kind(_ path: String) -> Kind {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Free bytes for an unprivileged writer on the file system holding `path`.
    public static func freeBytes(_ path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}

/// Retries a system call that failed with EINTR.
@inline(__always)
public func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let r = call()
        if r < 0 && errno == EINTR { continue }
        return r
    }
}

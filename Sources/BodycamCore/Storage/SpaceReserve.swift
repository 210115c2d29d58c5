import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// A file of preallocated blocks kept on the storage, given back when the card fills up so that the
/// segment being written can still be closed properly (its index and header need a little space).
public struct SpaceReserve {
    public let path: String
    public let bytes: Int

    public init(path: String, bytes: Int) {
        self.path = path
        self.bytes = bytes
    }

    /// Creates (or re-creates) the reserve. False if the space is not there.
    @discardableResult
    public func claim() -> Bool {
        let fd = retrying { open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // posix_fallocate allocates real blocks (unlike a sparse file) and returns the error itself.
        return posix_fallocate(fd, 0, off_t(bytes)) == 0
    }

    /// Frees the reserved space for the writer to use.
    public func release() { unlink(path) }
}

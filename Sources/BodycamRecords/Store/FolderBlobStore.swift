import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Blobs in `DATA/blobs/ab/<sha256>` (write-once, read-only files), partial uploads in
/// `DATA/uploads/<device>/<folder>/<file>`. Every folder below DATA is opened one name at a time with
/// O_NOFOLLOW and every file with O_NOFOLLOW, so a link planted in the store cannot redirect a write;
/// every new name is made durable by syncing its folder.
public final class FolderBlobStore: BlobStore {
    public let root: String

    public init(root: String) throws(IOError) {
        self.root = root
        try PosixFile.makeDirectories(root + "/blobs", mode: 0o750)
        try PosixFile.makeDirectories(root + "/uploads", mode: 0o750)
    }

    // MARK: Folders

    /// Opens `root/components...` one component at a time without following links, creating what is
    /// missing when `create` (and syncing the parent so the new folder survives a power cut).
    private func openFolder(_ components: [String], create: Bool) throws(IOError) -> Int32 {
        var fd = retrying { open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw IOError(operation: "open", path: root, errno: errno) }
        var path = root
        for c in components {
            path += "/" + c
            var next = retrying { openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, c, 0o750) != 0 && errno != EEXIST {
                    let e = errno
                    close(fd)
                    throw IOError(operation: "mkdir", path: path, errno: e)
                }
                _ = retrying { fsync(fd) }
                next = retrying { openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            }
            let e = errno
            close(fd)
            guard next >= 0 else { throw IOError(operation: "open folder", path: path, errno: e) }
            fd = next
        }
        return fd
    }

    private func uploadFolder(_ name: UploadName, create: Bool) throws(IOError) -> Int32 {
        try openFolder(["uploads", name.device, name.folder], create: create)
    }

    private func blobPath(_ sha256: String) -> String { root + "/blobs/" + sha256.prefix(2) + "/" + sha256 }

    // MARK: Partial uploads

    public func partialSize(_ name: UploadName) throws(IOError) -> Int? {
        let dir: Int32
        do { dir = try uploadFolder(name, create: false) } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
        defer { close(dir) }
        do {
            let f = try PosixFile.openExisting(name.file, at: dir)
            defer { f.close() }
            return try f.size()
        } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
    }

    public func appendPartial(_ name: UploadName, at offset: Int, _ bytes: [UInt8]) throws(IOError) -> AppendResult {
        let dir = try uploadFolder(name, create: true)
        defer { close(dir) }
        let fd = retrying { openat(dir, name.file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o640) }
        guard fd >= 0 else { throw IOError(operation: "open", path: name.description, errno: errno) }
        let f = PosixFile(fd: fd, path: name.description)
        defer { f.close() }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw IOError(operation: "open (not a regular file)", path: name.description, errno: EINVAL)
        }
        let held = Int(st.st_size)
        guard held == offset else { return .offsetMismatch(held: held) }
        do throws(IOError) {
            var failure: IOError?
            bytes.withUnsafeBytes { b in
                do throws(IOError) { try f.pwrite(b, at: offset) } catch { failure = error }
            }
            if let failure { throw failure }
            try f.sync()
            // A new upload's name must survive a power cut too.
            if offset == 0 && retrying({ fsync(dir) }) != 0 { throw IOError(operation: "fsync", path: name.description, errno: errno) }
        } catch {
            // Nothing half-written stays: the upload holds exactly what it held before.
            _ = ftruncate(fd, off_t(offset))
            _ = fsync(fd)
            throw error
        }
        return .appended(size: offset + bytes.count)
    }

    public func hashPartial(_ name: UploadName) throws(IOError) -> (sha256: String, bytes: Int) {
        let dir = try uploadFolder(name, create: false)
        defer { close(dir) }
        let f = try PosixFile.openExisting(name.file, at: dir)
        defer { f.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let size = try f.size()
        guard let digest = FileBytes.sha256(fd: f.fd, buffer: buffer) else { throw IOError(operation: "read", path: name.description, errno: errno) }
        return (digest, size)
    }

    public func readPartial(_ name: UploadName, limit: Int) throws(IOError) -> [UInt8] {
        let dir = try uploadFolder(name, create: false)
        defer { close(dir) }
        do { return try FileBytes.contents(name.file, limit: limit, at: dir) } catch {
            switch error {
            case .missing: throw IOError(operation: "open", path: name.description, errno: ENOENT)
            case .tooLarge: throw IOError(operation: "read", path: name.description, errno: EFBIG)
            case .notRegular: throw IOError(operation: "open", path: name.description, errno: EINVAL)
            case .io(_, let e): throw IOError(operation: "read", path: name.description, errno: e)
            }
        }
    }

    public func discardPartial(_ name: UploadName) {
        guard let dir = try? uploadFolder(name, create: false) else { return }
        defer { close(dir) }
        if unlinkat(dir, name.file, 0) == 0 { _ = fsync(dir) }
    }

    public func commitPartial(_ name: UploadName, sha256: String) throws(IOError) {
        guard Hex.isDigest(sha256) else { throw IOError(operation: "commit (not a digest)", path: name.description, errno: EINVAL) }
        let upload = try uploadFolder(name, create: false)
        defer { close(upload) }
        let f = try PosixFile.openExisting(name.file, writable: true, at: upload)
        // Durable before it gets its real name; read-only once it has it.
        do { try f.sync() } catch { f.close(); throw error }
        _ = fchmod(f.fd, 0o440)
        f.close()
        let blobs = try openFolder(["blobs", String(sha256.prefix(2))], create: true)
        defer { close(blobs) }
        var st = stat()
        if fstatat(blobs, sha256, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            // Held already (the same bytes under another name, or an earlier finish): write-once, keep it.
            _ = unlinkat(upload, name.file, 0)
        } else {
            guard renameat(upload, name.file, blobs, sha256) == 0 else {
                throw IOError(operation: "rename", path: name.description, errno: errno)
            }
            guard retrying({ fsync(blobs) }) == 0 else { throw IOError(operation: "fsync", path: blobPath(sha256), errno: errno) }
        }
        guard retrying({ fsync(upload) }) == 0 else { throw IOError(operation: "fsync", path: name.description, errno: errno) }
    }

    // MARK: Blobs

    public func hasBlob(_ sha256: String) -> Bool {
        Hex.isDigest(sha256) && PosixFile.kind(blobPath(sha256)) == .regular
    }

    public func readBlob(_ sha256: String, limit: Int) throws(IOError) -> [UInt8] {
        guard Hex.isDigest(sha256) else { throw IOError(operation: "open (not a digest)", path: sha256, errno: EINVAL) }
        do { return try FileBytes.contents(blobPath(sha256), limit: limit) } catch {
            switch error {
            case .missing: throw IOError(operation: "open", path: blobPath(sha256), errno: ENOENT)
            case .tooLarge: throw IOError(operation: "read", path: blobPath(sha256), errno: EFBIG)
            case .notRegular: throw IOError(operation: "open", path: blobPath(sha256), errno: EINVAL)
            case .io(_, let e): throw IOError(operation: "read", path: blobPath(sha256), errno: e)
            }
        }
    }

    public func openBlob(_ sha256: String) throws(IOError) -> any BlobReader {
        guard Hex.isDigest(sha256) else { throw IOError(operation: "open (not a digest)", path: sha256, errno: EINVAL) }
        return try FileBlobReader(path: blobPath(sha256))
    }

    public func hashBlob(_ sha256: String) throws(IOError) -> (sha256: String, bytes: Int) {
        guard Hex.isDigest(sha256) else { throw IOError(operation: "open (not a digest)", path: sha256, errno: EINVAL) }
        let f = try PosixFile.openExisting(blobPath(sha256))
        defer { f.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let size = try f.size()
        guard let digest = FileBytes.sha256(fd: f.fd, buffer: buffer) else { throw IOError(operation: "read", path: blobPath(sha256), errno: errno) }
        return (digest, size)
    }

    public func removeBlob(_ sha256: String) throws(IOError) {
        guard Hex.isDigest(sha256) else { throw IOError(operation: "remove (not a digest)", path: sha256, errno: EINVAL) }
        let dir: Int32
        do { dir = try openFolder(["blobs", String(sha256.prefix(2))], create: false) } catch {
            if error.errno == ENOENT { return }
            throw error
        }
        defer { close(dir) }
        guard unlinkat(dir, sha256, 0) == 0 else {
            if errno == ENOENT { return }
            throw IOError(operation: "unlink", path: blobPath(sha256), errno: errno)
        }
        guard retrying({ fsync(dir) }) == 0 else { throw IOError(operation: "fsync", path: blobPath(sha256), errno: errno) }
    }

    /// The blob's path (tools and tests that work on the folder itself; the service streams with `openBlob`).
    public func localPath(_ sha256: String) -> String? { Hex.isDigest(sha256) ? blobPath(sha256) : nil }

    /// Nothing to do: a folder has no write-once retention of its own. Its blobs are removed only by the
    /// retention job, which reads the catalogue's category and hold, so the catalogue alone protects them.
    public func extendRetention(_ sha256: String, until utc: Int64) throws(IOError) {}
    /// Nothing to do, as for `extendRetention`: the catalogue's hold is what keeps the retention job away.
    public func setLegalHold(_ sha256: String, on: Bool) throws(IOError) {}

    /// Opens an unfinished upload for reading (a store that ships it elsewhere on commit reads it from here).
    public func openPartial(_ name: UploadName) throws(IOError) -> PosixFile {
        let dir = try uploadFolder(name, create: false)
        defer { close(dir) }
        return try PosixFile.openExisting(name.file, at: dir)
    }
}

import Crypto
#if canImport(Glibc)
import Glibc
import BodycamEvidence
#endif

/// Central records as a folder:
///
///     <root>/trusted-keys                          the pinned keys (TrustedKeys format), one line per device
///     <root>/<device>/device.json                  the device's identity as first presented, never replaced
///     <root>/<device>/audit/<entries>.<FP>.jsonl       the device's audit trail as of each dock, and its
///     <root>/<device>/audit/<entries>.<FP>.head.json   head signed by the key with fingerprint FP
///                                                      (`RecordsNames.AuditCopy`; older: `<entries>.jsonl`)
///     <root>/<device>/<recording>/<segments, manifest, signature>
///
/// Every folder below the root is opened relative to its parent's descriptor with `O_NOFOLLOW`, and every
/// file is a regular file reached without a link: a symbolic link planted in the records is never
/// followed. Files arrive as `.incoming`, are synced, hashed where they landed, and hard-linked to their
/// final name, which fails if the name exists: records are write-once.
public final class RecordsFolder: RecordsTarget {
    public let root: String
    public var location: String { root }
    public init(root: String) { self.root = root }

    // MARK: - Folders, without following links

    /// Opens (creating when asked) `components` below the root, one at a time, never through a link.
    private func openFolder(_ components: [String], create: Bool) throws(RecordsError) -> Int32? {
        if create {
            do { try PosixFile.makeDirectories(root) } catch { throw RecordsError(error) }
        }
        var fd = retrying { open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT && !create { return nil }
            throw RecordsError(IOError(operation: "open", path: root, errno: errno))
        }
        var path = root
        for c in components {
            path += "/" + c
            if create && mkdirat(fd, c, 0o750) != 0 && errno != EEXIST {
                let e = errno
                close(fd)
                throw RecordsError(IOError(operation: "mkdir", path: path, errno: e))
            }
            let next = retrying { openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            let e = errno
            close(fd)
            guard next >= 0 else {
                if e == ENOENT && !create { return nil }
                if e == ELOOP || e == ENOTDIR { throw RecordsError("\(path): not a folder (a link or file is in the way): refused", refusal: true) }
                throw RecordsError(IOError(operation: "open", path: path, errno: e))
            }
            fd = next
        }
        return fd
    }

    private func checkNames(device: String, folder: String, file: String) throws(RecordsError) {
        guard RecordsNames.isAcceptable(device: device, folder: folder, file: file) else {
            throw RecordsError("\(device)/\(folder)/\(file): not a name the records accept: refused", refusal: true)
        }
    }

    // MARK: - Devices

    @discardableResult
    public func admit(device info: DeviceInfo) throws(RecordsError) -> [UInt8]? {
        let device = info.deviceID
        guard FrameStamp.isValidDeviceID(device) else { throw RecordsError("device id \(device) is not valid: refused", refusal: true) }
        let pinned = try pinnedKeys()
        if let key = pinned[device] {
            guard key == info.publicKey else {
                throw RecordsError("device \(device) is enrolled with key \(key.fingerprint); this camera presents \(info.publicKey.fingerprint): refused",
                                   refusal: true)
            }
            return nil
        }
        // First delivery: pin the key (append to trusted-keys, durably), and keep device.json as presented. An
        // identity already kept for this id (with no pin: the pin file was lost) is not overruled by a newcomer.
        let digest = Hex.sha256(info.bytes)
        if try stored(components: [device], file: DeviceIdentity.infoFileName, sha256: digest) == .different {
            throw RecordsError("device \(device): the records already hold another identity for it, and no pinned key: refused", refusal: true)
        }
        guard let rootfd = try openFolder([], create: true) else { return nil }
        defer { close(rootfd) }
        let line = Array((TrustedKeys.line(deviceID: device, key: info.publicKey) + "\n").utf8)
        let fd = retrying { openat(rootfd, RecordsNames.trustedKeysFile, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o640) }
        guard fd >= 0 else { throw RecordsError(IOError(operation: "open", path: root + "/" + RecordsNames.trustedKeysFile, errno: errno)) }
        let f = PosixFile(fd: fd, path: root + "/" + RecordsNames.trustedKeysFile)
        defer { f.close() }
        var failure: IOError?
        line.withUnsafeBytes { b in
            do throws(IOError) { try f.write(b); try f.sync() } catch { failure = error }
        }
        if let failure { throw RecordsError(failure) }
        try put(device: device, components: [device], file: DeviceIdentity.infoFileName, bytes: info.bytes)
        return nil
    }

    /// The pinned keys (empty before the first delivery).
    public func pinnedKeys() throws(RecordsError) -> TrustedKeys {
        guard let rootfd = try openFolder([], create: false) else { return TrustedKeys() }
        defer { close(rootfd) }
        do {
            let bytes = try FileBytes.contents(RecordsNames.trustedKeysFile, limit: TrustedKeys.maxFileBytes, at: rootfd)
            do { return try TrustedKeys.parse(bytes) } catch {
                throw RecordsError("\(root)/\(RecordsNames.trustedKeysFile): \(error.message): refused", refusal: true)
            }
        } catch let e as FileBytes.Failure {
            if case .missing = e { return TrustedKeys() }
            throw RecordsError("\(e)", refusal: true)
        } catch let e as RecordsError { throw e } catch { throw RecordsError("\(error)") }
    }

    /// Writes a small file under its final name once; the same bytes again are accepted, others refused.
    private func put(device: String, components: [String], file: String, bytes: [UInt8]) throws(RecordsError) {
        let digest = Hex.sha256(bytes)
        switch try stored(components: components, file: file, sha256: digest) {
        case .same: return
        case .different: throw RecordsError("\(root)/\(components.joined(separator: "/"))/\(file) exists with other contents: refused", refusal: true)
        case .absent: break
        }
        let t = try transfer(components: components, file: file)
        var failure: RecordsError?
        bytes.withUnsafeBytes { b in
            do throws(RecordsError) { try t.append(b) } catch { failure = error }
        }
        if let failure { t.abandon(); throw failure }
        guard try t.finish(sha256: digest) else { throw RecordsError("\(file): the copy at the records does not match") }
    }

    // MARK: - Files

    public func stored(device: String, folder: String, file: String, sha256: String) throws(RecordsError) -> StoredFile {
        try checkNames(device: device, folder: folder, file: file)
        return try stored(components: [device, folder], file: file, sha256: sha256)
    }

    private func stored(components: [String], file: String, sha256: String) throws(RecordsError) -> StoredFile {
        guard let dirfd = try openFolder(components, create: false) else { return .absent }
        defer { close(dirfd) }
        do {
            let (fd, _) = try FileBytes.openRegular(file, at: dirfd)
            defer { close(fd) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
            defer { buffer.deallocate() }
            guard let digest = FileBytes.sha256(fd: fd, buffer: buffer) else {
                throw RecordsError(IOError(operation: "read", path: file, errno: errno))
            }
            return digest == sha256 ? .same : .different
        } catch let e as FileBytes.Failure {
            switch e {
            case .missing: return .absent
            case .notRegular: throw RecordsError("\(root)/\(components.joined(separator: "/"))/\(file): not a regular file (a link?): refused", refusal: true)
            default: throw RecordsError("\(e)")
            }
        } catch let e as RecordsError { throw e } catch { throw RecordsError("\(error)") }
    }

    public func begin(device: String, folder: String, file: String) throws(RecordsError) -> RecordsTransfer {
        try checkNames(device: device, folder: folder, file: file)
        return try transfer(components: [device, folder], file: file)
    }

    private func transfer(components: [String], file: String) throws(RecordsError) -> RecordsTransfer {
        guard let dirfd = try openFolder(components, create: true) else { throw RecordsError("\(root): cannot create") }
        let incoming = file + ".incoming"
        unlinkat(dirfd, incoming, 0) // an interrupted earlier attempt starts again
        let fd = retrying { openat(dirfd, incoming, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640) }
        guard fd >= 0 else {
            let e = errno
            close(dirfd)
            throw RecordsError(IOError(operation: "create", path: root + "/" + components.joined(separator: "/") + "/" + incoming, errno: e))
        }
        return FolderTransfer(file: PosixFile(fd: fd, path: root + "/" + components.joined(separator: "/") + "/" + incoming),
                              dirfd: dirfd, incoming: incoming, final: file)
    }

    final class FolderTransfer: RecordsTransfer {
        let file: PosixFile
        let dirfd: Int32
        let incoming: String
        let final: String
        private var open = true
        init(file: PosixFile, dirfd: Int32, incoming: String, final: String) {
            self.file = file
            self.dirfd = dirfd
            self.incoming = incoming
            self.final = final
        }
        deinit { abandon() }

        func append(_ bytes: UnsafeRawBufferPointer) throws(RecordsError) {
            do { try file.write(bytes) } catch { throw RecordsError(error) }
        }

        func finish(sha256: String) throws(RecordsError) -> Bool {
            do { try file.sync() } catch { throw RecordsError(error) }
            // Read back what the records now hold: the copy is checked where it landed.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
            let digest = FileBytes.sha256(fd: file.fd, buffer: buffer)
            buffer.deallocate()
            guard digest == sha256 else {
                abandon()
                return false
            }
            // A hard link never replaces an existing name (EEXIST): write-once.
            guard linkat(dirfd, incoming, dirfd, final, 0) == 0 else {
                let e = errno
                abandon()
                if e == EEXIST { throw RecordsError("\(final) already exists at the records: not replaced", refusal: true) }
                throw RecordsError(IOError(operation: "link", path: final, errno: e))
            }
            unlinkat(dirfd, incoming, 0)
            guard fsync(dirfd) == 0 else { throw RecordsError(IOError(operation: "fsync", path: final, errno: errno)) }
            close()
            return true
        }

        func abandon() {
            guard open else { return }
            unlinkat(dirfd, incoming, 0)
            close()
        }

        private func close() {
            guard open else { return }
            open = false
            file.close()
            Glibc.close(dirfd)
        }
    }
}

import BodycamEvidence
import BodycamRecords
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// Opens the blob store in an S3 bucket: `s3://BUCKET?endpoint=http://HOST:PORT[&region=R]`. Credentials never
/// come from the command line: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or the shared credentials
/// file (`AWS_SHARED_CREDENTIALS_FILE`, profile `AWS_PROFILE` or `default`). Partial uploads are staged in
/// `stagingRoot` (the node's data folder) and go to the bucket when they are finished.
public enum S3Store {
    public static func openBlobStore(url: String, stagingRoot: String, environment: [String: String]) throws -> any BlobStore {
        let location = try S3Location.parse(url)
        let credentials = try S3Credentials.load(environment: environment)
        return try S3BlobStore(location: location, credentials: credentials, stagingRoot: stagingRoot)
    }
}

/// Evidence blobs in an S3 bucket with Object Lock, under `blobs/<sha256>`.
///
/// Uploads in progress are staged on this node's disk (a `FolderBlobStore`): a camera resumes at the byte on
/// the same node; one that moves to another node restarts that file there. `commitPartial` then ships the
/// staged file to the bucket (one PUT, or a multipart upload that a restarted node resumes) and drops the
/// staged copy only once the bucket holds it. Every object is written in COMPLIANCE mode, retained at least
/// the non-evidential period from now: a lower bound that is never later than the recording's real expiry
/// (which counts from when it ended or arrived, both no earlier than now), so it never keeps footage the
/// retention job should delete, yet no one, administrator included, can delete a blob before it.
public final class S3BlobStore: BlobStore {
    public let client: S3Client
    public let staging: FolderBlobStore
    /// Bytes per multipart part (at least 5 MiB, S3's minimum); files up to this size go in one PUT.
    public let partSize: Int
    /// The clock, seconds since 1970 (tests move it).
    let clock: @Sendable () -> Int64

    public static let defaultPartSize = 16 << 20
    /// The Object Lock date every blob starts with: the non-evidential retention from now.
    public static let initialRetentionSeconds = RetentionCategory.nonEvidentialDays * 86_400
    /// A multipart upload left this long is someone's abandoned attempt: aborted when found.
    public static let staleUploadSeconds: Int64 = 7 * 86_400

    public init(location: S3Location, credentials: S3Credentials, stagingRoot: String, partSize: Int = defaultPartSize,
                retryWindowSeconds: Double = 90, createBucket: Bool = true,
                clock: @escaping @Sendable () -> Int64 = { Int64(S3Client.now()) }) throws {
        guard partSize >= 5 << 20 else { throw StoreLocationError("s3 blob store: part size must be at least 5 MiB") }
        client = S3Client(location: location, credentials: credentials, retryWindowSeconds: retryWindowSeconds)
        staging = try FolderBlobStore(root: stagingRoot)
        self.partSize = partSize
        self.clock = clock
        do { try S3Bucket.ensureObjectLock(client, create: createBucket) } catch {
            client.shutdown()
            throw error
        }
    }

    /// Closes the HTTP connection pool (also done when the store is released).
    public func shutdown() { client.shutdown() }

    public static func key(_ sha256: String) -> String { "blobs/" + sha256 }

    static func notDigest(_ sha256: String, _ op: String) -> IOError {
        IOError(operation: "\(op) (not a digest)", path: String(sha256.prefix(80)), errno: EINVAL)
    }

    // MARK: Partial uploads: staged on this node

    public func partialSize(_ name: UploadName) throws(IOError) -> Int? { try staging.partialSize(name) }
    public func appendPartial(_ name: UploadName, at offset: Int, _ bytes: [UInt8]) throws(IOError) -> AppendResult {
        try staging.appendPartial(name, at: offset, bytes)
    }
    public func hashPartial(_ name: UploadName) throws(IOError) -> (sha256: String, bytes: Int) { try staging.hashPartial(name) }
    public func readPartial(_ name: UploadName, limit: Int) throws(IOError) -> [UInt8] { try staging.readPartial(name, limit: limit) }
    public func discardPartial(_ name: UploadName) { staging.discardPartial(name) }

    /// Ships the staged file to `blobs/<sha256>` and then drops the staged copy. Write-once: a blob already
    /// there is kept (its size checked) and this upload dropped. The staged bytes are hashed again as they
    /// are sent and must still be `sha256`; each request's body is signed by its SHA-256, so the gateway
    /// refuses bytes changed on the way.
    public func commitPartial(_ name: UploadName, sha256: String) throws(IOError) {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "commit") }
        let file = try staging.openPartial(name)
        defer { file.close() }
        let size = try file.size()
        let key = Self.key(sha256)
        if let held = try head(key) {
            guard held == size else {
                throw IOError(operation: "commit: the bucket holds \(held) bytes under this digest, the upload \(size)", path: client.name(key), errno: EEXIST)
            }
        } else if size <= partSize {
            let bytes = try Self.read(file, at: 0, count: size, name: name.description)
            guard SigV4Signer.sha256Hex(bytes) == sha256 else {
                throw IOError(operation: "commit: the staged file no longer hashes to \(sha256)", path: name.description, errno: EBADMSG)
            }
            // A retried PUT whose first attempt did land would make a second version: HEAD before retrying.
            // The bytes were just hashed: signed with that digest rather than hashed a second time.
            _ = try client.send(.PUT, key: key, headers: lockHeaders(), body: bytes, signedPayloadSHA256: sha256,
                                doneAlready: { () throws(IOError) in try self.head(key) == size })
        } else {
            try S3Multipart(store: self, key: key, sha256: sha256, file: file, size: size, what: name.description).run()
        }
        staging.discardPartial(name)
    }

    /// The Object Lock headers every new blob is written with.
    func lockHeaders() -> [(String, String)] {
        [("x-amz-object-lock-mode", "COMPLIANCE"),
         ("x-amz-object-lock-retain-until-date", CivilTime.iso(unixSeconds: clock() + Self.initialRetentionSeconds))]
    }

    /// The object's size, or nil if there is none.
    func head(_ key: String) throws(IOError) -> Int? {
        let r = try client.send(.HEAD, key: key, accept: [404])
        guard r.status != 404 else { return nil }
        guard let text = r.header("content-length"), let size = Int(text), size >= 0 else {
            throw IOError(operation: "s3 HEAD: no valid Content-Length in the answer", path: client.name(key), errno: EIO)
        }
        return size
    }

    static func read(_ file: PosixFile, at offset: Int, count: Int, name: String) throws(IOError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: IOError?
        out.withUnsafeMutableBytes { b in
            while done < count {
                do throws(IOError) {
                    let n = try file.pread(into: UnsafeMutableRawBufferPointer(rebasing: b[done...]), at: offset + done)
                    guard n > 0 else { failure = IOError(operation: "read (file shorter than expected)", path: name, errno: EIO); return }
                    done += n
                } catch { failure = error; return }
            }
        }
        if let failure { throw failure }
        return out
    }

    // MARK: Blobs

    /// HEAD: a blob the bucket cannot be asked about (the gateway down past the retries) answers false.
    public func hasBlob(_ sha256: String) -> Bool {
        guard Hex.isDigest(sha256) else { return false }
        return ((try? head(Self.key(sha256))) ?? nil) != nil
    }

    public func readBlob(_ sha256: String, limit: Int) throws(IOError) -> [UInt8] {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "read") }
        let key = Self.key(sha256)
        guard let size = try head(key) else { throw IOError(operation: "s3 read: no such blob", path: client.name(key), errno: ENOENT) }
        guard size <= limit else { throw IOError(operation: "read (\(size) bytes, more than \(limit))", path: client.name(key), errno: EFBIG) }
        let r = try client.send(.GET, key: key, maxResponse: max(limit, 64 << 10))
        guard r.body.count <= limit else { throw IOError(operation: "read (more than \(limit) bytes)", path: client.name(key), errno: EFBIG) }
        return r.body
    }

    /// Ranged GETs of `S3BlobReader.chunk` bytes: never the whole blob in memory.
    public func hashBlob(_ sha256: String) throws(IOError) -> (sha256: String, bytes: Int) {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "hash") }
        let reader = try S3BlobReader(client: client, key: Self.key(sha256))
        var hash = SHA256()
        while true {
            let piece = try reader.read(upTo: S3BlobReader.chunk)
            if piece.isEmpty { break }
            hash.update(data: piece)
        }
        return (SigV4Signer.hex(hash.finalize()), reader.size)
    }

    /// Deletes every version of the blob (retention purge). A version still locked (COMPLIANCE date ahead, or
    /// a legal hold) is an error naming the date, so the retention job reports it and retries next run.
    public func removeBlob(_ sha256: String) throws(IOError) {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "remove") }
        try S3ObjectLock(client: client).removeAllVersions(Self.key(sha256))
    }

    /// Ranged GETs, one piece per read: a 1 GiB segment streams out without being held.
    public func openBlob(_ sha256: String) throws(IOError) -> any BlobReader {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "open") }
        return try S3BlobReader(client: client, key: Self.key(sha256))
    }

    public func extendRetention(_ sha256: String, until utc: Int64) throws(IOError) {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "retain") }
        // Nanoseconds to whole seconds, rounded up: the lock never ends before `utc`.
        let seconds = utc / 1_000_000_000 + (utc % 1_000_000_000 > 0 ? 1 : 0)
        try S3ObjectLock(client: client).extendRetention(Self.key(sha256), until: seconds)
    }

    public func setLegalHold(_ sha256: String, on: Bool) throws(IOError) {
        guard Hex.isDigest(sha256) else { throw Self.notDigest(sha256, "hold") }
        try S3ObjectLock(client: client).setLegalHold(Self.key(sha256), on: on)
    }
}

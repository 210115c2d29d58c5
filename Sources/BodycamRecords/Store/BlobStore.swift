import BodycamEvidence

/// A file name a device may upload under: only names `RecordsNames.isAcceptable` accepts can be built, so
/// no value of this type can name a path outside the device's own folders.
public struct UploadName: Hashable, Sendable, CustomStringConvertible {
    public let device: String
    public let folder: String
    public let file: String

    public init?(device: String, folder: String, file: String) {
        guard RecordsNames.isAcceptable(device: device, folder: folder, file: file) else { return nil }
        (self.device, self.folder, self.file) = (device, folder, file)
    }

    public var description: String { "\(device)/\(folder)/\(file)" }

    /// The largest file a camera can have under this name: an upload past it is refused.
    public var maxBytes: Int {
        if folder == RecordsNames.auditFolder { return RecordsNames.AuditCopy.parse(file)?.isHead == false ? AuditTrail.maxFileBytes : 4096 }
        switch EvidenceNames.kind(of: file) {
        case .manifest: return RecordingManifest.maxFileBytes
        case .signature: return 4096
        default: return AVILayout.maxSegmentBytesLimit
        }
    }
}

/// Where evidence bytes live: partial uploads, then write-once blobs named by their SHA-256. A folder here;
/// S3 with object lock for a fleet.
public protocol BlobStore: Sendable {
    /// Bytes held of an unfinished upload; nil if there is none.
    func partialSize(_ name: UploadName) throws(IOError) -> Int?
    /// Writes `bytes` at `offset` of the upload if it holds exactly `offset` bytes, durably. Answers the new
    /// size, or the size held if that is not `offset` (nothing written). On failure nothing is kept.
    func appendPartial(_ name: UploadName, at offset: Int, _ bytes: [UInt8]) throws(IOError) -> AppendResult
    /// SHA-256 and size of the upload as held.
    func hashPartial(_ name: UploadName) throws(IOError) -> (sha256: String, bytes: Int)
    /// The whole upload (small files: manifests, signatures, heads), at most `limit` bytes.
    func readPartial(_ name: UploadName, limit: Int) throws(IOError) -> [UInt8]
    func discardPartial(_ name: UploadName)
    /// Makes the upload durable and moves it to the blob `sha256` (which the caller has checked it hashes
    /// to). A blob already held under that digest is kept as it is (write-once) and the upload dropped.
    func commitPartial(_ name: UploadName, sha256: String) throws(IOError)

    func hasBlob(_ sha256: String) -> Bool
    func readBlob(_ sha256: String, limit: Int) throws(IOError) -> [UInt8]
    /// Opens a blob for streaming it out in pieces (a download, a thumbnail, a court bundle's copy): never
    /// the whole blob in memory. The caller closes it.
    func openBlob(_ sha256: String) throws(IOError) -> any BlobReader
    /// SHA-256 and size of a blob as held, hashed streamed (never the whole blob in memory).
    func hashBlob(_ sha256: String) throws(IOError) -> (sha256: String, bytes: Int)
    /// Removes a blob durably (the retention job, once the catalogue says no live file needs it). A blob
    /// already gone is not an error: a rerun after a crash removes what is left.
    func removeBlob(_ sha256: String) throws(IOError)

    /// Keeps the blob at least until `utc` (nanoseconds): a store with write-once retention (S3 Object Lock in
    /// COMPLIANCE mode) moves the blob's retain-until date to `utc` if that is later, never earlier. Called
    /// when a recording becomes evidential, for each of its files, before the catalogue records the change:
    /// a failure stops the change rather than leaving evidence that the store would let go too soon.
    func extendRetention(_ sha256: String, until utc: Int64) throws(IOError)
    /// Puts the blob on legal hold (`on`: it cannot be deleted whatever its retention date) or lifts it.
    /// Set before the catalogue records a hold; lifted only after the catalogue records the release.
    func setLegalHold(_ sha256: String, on: Bool) throws(IOError)
}

public enum AppendResult: Equatable, Sendable {
    case appended(size: Int)
    case offsetMismatch(held: Int)
}

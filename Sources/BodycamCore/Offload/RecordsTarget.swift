import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Why central records did not take something: a refusal (unknown or mismatching key, a different file
/// under an existing name) or an I/O failure.
public struct RecordsError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    /// The records refused (a trust or write-once rule), as opposed to failing.
    public var isRefusal: Bool
    public init(_ message: String, refusal: Bool = false) {
        self.message = message
        isRefusal = refusal
    }
    public init(_ io: IOError) { self.init(io.description) }
    public var description: String { message }
}

/// What the records hold under a name.
public enum StoredFile: Equatable, Sendable {
    case absent
    /// The same bytes (by SHA-256): nothing to send.
    case same
    /// Different bytes: records are write-once, so the name can never be replaced.
    case different
}

/// Where docked cameras deliver their recordings: the force's central records. A local folder here;
/// a network records service implements the same calls. The records are the trust anchor: they pin each
/// device's key on its first delivery and refuse a different key for that id afterwards, and they are
/// write-once: a name that exists is never replaced.
public protocol RecordsTarget: AnyObject {
    /// Human-readable location, for events.
    var location: String { get }
    /// The key that signs the records' receipts. With one, a recording is deleted from the camera only
    /// after a receipt signed by it, for that recording and manifest, is logged; nil for a target that
    /// gives no receipts (a local folder, where the SHA-256 checked at the destination stands in).
    var receiptKey: PublicKey? { get }
    /// Admits a device before anything of it is stored: pins its key the first time, refuses a device
    /// whose key differs from the pinned one. Returns the records' signed check-in statement, if any.
    @discardableResult
    func admit(device: DeviceInfo) throws(RecordsError) -> [UInt8]?
    /// What the records hold under `folder/file` of `device` (folder: a recording id, or `audit`).
    func stored(device: String, folder: String, file: String, sha256: String) throws(RecordsError) -> StoredFile
    /// Starts (or restarts) receiving a file.
    func begin(device: String, folder: String, file: String) throws(RecordsError) -> RecordsTransfer
}

/// One file on its way to the records. `finish` makes it durable, checks its SHA-256 *at the
/// destination*, and only then puts it in place under its real name, never over an existing one.
public protocol RecordsTransfer: AnyObject {
    /// Bytes of the file the records already hold from an interrupted transfer: sending resumes there.
    var offset: Int { get }
    /// After a manifest's `finish`: the records' signed receipt for the recording, if they give one.
    var receipt: [UInt8]? { get }
    func append(_ bytes: UnsafeRawBufferPointer) throws(RecordsError)
    /// Returns false (and leaves nothing in place) if the stored bytes do not hash to `sha256`.
    func finish(sha256: String) throws(RecordsError) -> Bool
    func abandon()
}

public extension RecordsTransfer {
    var offset: Int { 0 }
    var receipt: [UInt8]? { nil }
}

public extension RecordsTarget {
    var receiptKey: PublicKey? { nil }
}

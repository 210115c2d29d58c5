#if canImport(Glibc)
import Glibc
#endif

/// Where docked cameras deliver their recordings: the force's central records. A local folder here;
/// a network records server can implement the same calls.
public protocol RecordsTarget: AnyObject {
    /// Human-readable location, for events.
    var location: String { get }
    /// True if the target already holds this file, verified, with this SHA-256.
    func hasVerified(device: String, recording: String?, file: String, sha256: String) -> Bool
    /// Starts (or restarts) receiving a file.
    func begin(device: String, recording: String?, file: String) throws(IOError) -> RecordsTransfer
}

/// One file on its way to the records. `finish` makes it durable, checks its SHA-256 *at the
/// destination*, and only then puts it in place under its real name.
public protocol RecordsTransfer: AnyObject {
    func append(_ bytes: UnsafeRawBufferPointer) throws(IOError)
    /// Returns false (and leaves nothing in place) if the stored bytes do not hash to `sha256`.
    func finish(sha256: String) throws(IOError) -> Bool
    func abandon()
}

/// Central records as a folder: `<root>/<device>/<recording>/<file>`, plus `<root>/<device>/device.json`
/// and `audit.jsonl`. Files arrive as `.incoming` and are renamed into place once verified.
public final class RecordsFolder: RecordsTarget {
    public let root: String
    public var location: String { root }
    public init(root: String) { self.root = root }

    func directory(device: String, recording: String?) -> String {
        root + "/" + device + (recording.map { "/" + $0 } ?? "")
    }

    public func hasVerified(device: String, recording: String?, file: String, sha256: String) -> Bool {
        FileBytes.sha256(directory(device: device, recording: recording) + "/" + file) == sha256
    }

    public func begin(device: String, recording: String?, file: String) throws(IOError) -> RecordsTransfer {
        let dir = directory(device: device, recording: recording)
        try PosixFile.makeDirectories(dir)
        let incoming = dir + "/" + file + ".incoming"
        unlink(incoming) // an interrupted earlier attempt starts again
        return FolderTransfer(file: try PosixFile.createNew(incoming, mode: 0o644), final: dir + "/" + file, directory: dir)
    }

    final class FolderTransfer: RecordsTransfer {
        let file: PosixFile
        let final: String
        let directory: String
        init(file: PosixFile, final: String, directory: String) {
            self.file = file
            self.final = final
            self.directory = directory
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws(IOError) { try file.write(bytes) }

        func finish(sha256: String) throws(IOError) -> Bool {
            try file.sync()
            file.close()
            // Read back what the records now hold: the copy is checked where it landed.
            guard FileBytes.sha256(file.path) == sha256 else {
                unlink(file.path)
                return false
            }
            try PosixFile.renameDurably(from: file.path, to: final, directory: directory)
            return true
        }

        func abandon() {
            file.close()
            unlink(file.path)
        }
    }
}

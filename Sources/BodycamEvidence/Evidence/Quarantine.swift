#if canImport(Glibc)
import Glibc
#endif

/// Where the camera puts anything on its storage it cannot use or repair (a segment with a damaged
/// header, a damaged audit trail or identity, a file it did not write): moved aside into
/// `<storage>/quarantine/`, never deleted, so the camera always boots and nothing is lost. Each move is
/// reported by the caller (alert, audit entry, `status`).
public struct Quarantine {
    public static let folderName = "quarantine"
    public let directory: String

    public init(storage: String) { directory = storage + "/" + Self.folderName }

    /// Moves `path` into quarantine as `<UTC>_<name>` (a number is added if that exists). Returns the new name.
    @discardableResult
    public func take(_ path: String, utc: Int64) throws(IOError) -> String {
        try PosixFile.makeDirectories(directory, mode: 0o750)
        // Never through a link: evidence must not be moved out of the storage.
        guard PosixFile.kind(directory) == .directory else { throw IOError(operation: "quarantine", path: directory, errno: ENOTDIR) }
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let base = UTC.compact(utc) + "_" + name
        var target = base
        var n = 1
        while PosixFile.exists(directory + "/" + target) {
            n += 1
            target = base + "." + String(n)
        }
        let from = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try PosixFile.renameDurably(from: path, to: directory + "/" + target, directory: directory)
        try PosixFile.syncDirectory(from)
        return target
    }

    /// Names of what is in quarantine.
    public var contents: [String] { PosixFile.list(directory).sorted() }
}

#if canImport(Glibc)
import Glibc
#endif

/// A stored blob opened for streaming out (a segment download, a thumbnail's frame, a court bundle's copy):
/// read in pieces at any offset, so memory holds one piece whatever the blob's size (segments reach 1 GiB).
/// A file for the folder store; ranged GETs for S3. Not shared between threads; closed by its user.
public protocol BlobReader: AnyObject {
    /// The blob's size, fixed when it was opened.
    var size: Int { get }
    /// Up to `count` bytes at `offset`: fewer only at the end of the blob, none at or past it.
    func read(upTo count: Int, at offset: Int) throws(IOError) -> [UInt8]
    func close()
}

extension BlobReader {
    /// Exactly `count` bytes at `offset`; a blob shorter than that is an error (EIO), never a short answer.
    public func read(exactly count: Int, at offset: Int) throws(IOError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(max(0, count))
        while out.count < count {
            let piece = try read(upTo: count - out.count, at: offset + out.count)
            guard !piece.isEmpty else { throw IOError(operation: "read (\(count) bytes at \(offset): the blob ends first)", path: "blob", errno: EIO) }
            out += piece
        }
        return out
    }
}

/// A regular local file as a `BlobReader` (opened without following a link).
public final class FileBlobReader: BlobReader {
    public let file: PosixFile
    public let size: Int
    private var open = true

    public init(path: String, at dirfd: Int32 = AT_FDCWD) throws(IOError) {
        let f = try PosixFile.openExisting(path, at: dirfd)
        do { size = try f.size() } catch { f.close(); throw error }
        file = f
    }

    public func read(upTo count: Int, at offset: Int) throws(IOError) -> [UInt8] {
        let n = min(max(0, count), max(0, size - offset))
        guard n > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: n)
        var failure: IOError?
        let got = out.withUnsafeMutableBytes { b -> Int in
            do throws(IOError) { return try file.pread(into: b, at: offset) } catch { failure = error; return 0 }
        }
        if let failure { throw failure }
        if got < n { out.removeLast(n - got) }
        return out
    }

    public func close() {
        if open { file.close(); open = false }
    }

    deinit { close() }
}

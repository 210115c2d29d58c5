import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file helpers for evidence files (manifests, keys, the audit trail, segments for hashing): not
/// the frame path. Every read is of a regular file reached without following a symbolic link, and is
/// bounded by a limit the caller states, so a crafted file can neither redirect a read nor exhaust memory.
public enum FileBytes {
    /// Why a file could not be read.
    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case missing(String)
        case notRegular(String)
        case tooLarge(String, bytes: Int64, limit: Int)
        case io(String, errno: Int32)
        public var description: String {
            switch self {
            case .missing(let p): return "\(p): no such file"
            case .notRegular(let p): return "\(p): not a regular file (a folder, device or symbolic link)"
            case .tooLarge(let p, let bytes, let limit): return "\(p): \(bytes) bytes, over the limit of \(limit)"
            case .io(let p, let e): return "\(p): \(String(cString: strerror(e)))"
            }
        }
    }

    /// Largest segment we ever write is 1 GiB; nothing we read whole is larger.
    public static let defaultLimit = 1 << 31

    /// Opens a regular file for reading without following a symbolic link (`dirfd` relative when given):
    /// `PosixFile.openExisting`, with its refusals said as `Failure`s.
    public static func openRegular(_ path: String, at dirfd: Int32 = AT_FDCWD) throws(Failure) -> (fd: Int32, size: Int64) {
        let f: PosixFile
        do { f = try PosixFile.openExisting(path, at: dirfd) } catch {
            switch error.errno {
            case ENOENT: throw .missing(path)
            case ELOOP, EINVAL: throw .notRegular(path) // a link (O_NOFOLLOW), or not a regular file
            default: throw .io(path, errno: error.errno)
            }
        }
        do { return (f.fd, Int64(try f.size())) } catch {
            f.close()
            throw .io(path, errno: error.errno)
        }
    }

    /// The whole file, at most `limit` bytes.
    public static func contents(_ path: String, limit: Int = defaultLimit, at dirfd: Int32 = AT_FDCWD) throws(Failure) -> [UInt8] {
        let (fd, size) = try openRegular(path, at: dirfd)
        defer { close(fd) }
        guard size <= Int64(limit) else { throw .tooLarge(path, bytes: size, limit: limit) }
        var data = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < data.count {
            let n = data.withUnsafeMutableBytes { b in retrying { Glibc.read(fd, b.baseAddress! + done, b.count - done) } }
            if n < 0 { throw .io(path, errno: errno) }
            if n == 0 { break } // shrank while we read: keep what is there
            done += n
        }
        if done < data.count { data.removeLast(data.count - done) }
        return data
    }

    /// Writes a new file completely and durably: temporary name, fsync, rename, fsync of the folder.
    public static func writeDurably(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(IOError) {
        let tmp = path + ".tmp"
        unlink(tmp)
        let f = try PosixFile.createNew(tmp, mode: mode)
        var failure: IOError?
        bytes.withUnsafeBytes { b in
            do throws(IOError) { try f.write(b); try f.sync() } catch { failure = error }
        }
        if let failure {
            f.close()
            unlink(tmp)
            throw failure
        }
        f.close()
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try PosixFile.renameDurably(from: tmp, to: path, directory: dir.isEmpty ? "/" : dir)
    }

    /// SHA-256 of an open file from its start, streamed through `buffer`.
    public static func sha256(fd: Int32, buffer: UnsafeMutableRawBufferPointer) -> String? {
        var hasher = SHA256()
        var offset: off_t = 0
        while true {
            let n = retrying { pread(fd, buffer.baseAddress, buffer.count, offset) }
            if n < 0 { return nil }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += off_t(n)
        }
        return Hex.encode(hasher.finalize())
    }

    /// SHA-256 of a whole regular file, streamed through `buffer` (the writer passes its preallocated one).
    public static func sha256(_ path: String, buffer: UnsafeMutableRawBufferPointer, at dirfd: Int32 = AT_FDCWD) -> String? {
        guard let (fd, _) = try? openRegular(path, at: dirfd) else { return nil }
        defer { close(fd) }
        return sha256(fd: fd, buffer: buffer)
    }

    /// SHA-256 of a whole regular file (tools and tests).
    public static func sha256(_ path: String, at dirfd: Int32 = AT_FDCWD) -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        return sha256(path, buffer: buffer, at: dirfd)
    }
}

/// Lower-case hex: SHA-256 digests (as `sha256sum` prints them) and raw Ed25519 keys.
public enum Hex {
    public static func encode<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict: lower-case digits only, an even count, and exactly `bytes` bytes when given.
    public static func decode<S: StringProtocol>(_ text: S, bytes expected: Int? = nil) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0, expected.map({ chars.count == 2 * $0 }) ?? true else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// The SHA-256 of `data` as evidence writes it (what `sha256sum` prints).
    public static func sha256<D: DataProtocol>(_ data: D) -> String { encode(SHA256.hash(data: data)) }

    /// A SHA-256 digest as written: 64 lower-case hex digits.
    public static func isDigest<S: StringProtocol>(_ text: S) -> Bool { decode(text, bytes: 32) != nil }
}

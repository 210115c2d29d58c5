import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Reads an S3 object front to back with ranged GETs: memory is one piece, whatever the object's size.
/// The size is fixed at open (HEAD); a piece shorter or longer than asked is an error, not a silent gap.
public final class S3BlobReader: BlobReader {
    public static let chunk = 8 << 20
    let client: S3Client
    let key: String
    public let size: Int
    public private(set) var offset = 0

    public init(client: S3Client, key: String) throws(IOError) {
        self.client = client
        self.key = key
        let r = try client.send(.HEAD, key: key, accept: [404])
        guard r.status != 404 else { throw IOError(operation: "s3 open: no such blob", path: client.name(key), errno: ENOENT) }
        guard let text = r.header("content-length"), let size = Int(text), size >= 0 else {
            throw IOError(operation: "s3 HEAD: no valid Content-Length", path: client.name(key), errno: EIO)
        }
        self.size = size
    }

    /// The next bytes, at most `upTo` (and at most `chunk`); empty at the end.
    public func read(upTo count: Int) throws(IOError) -> [UInt8] {
        let n = min(max(0, count), Self.chunk, size - offset)
        guard n > 0 else { return [] }
        let piece = try read(count: n, at: offset)
        offset += n
        return piece
    }

    /// Up to `count` bytes (at most `chunk`) at `offset`; none at or past the end.
    public func read(upTo count: Int, at offset: Int) throws(IOError) -> [UInt8] {
        let n = min(max(0, count), Self.chunk, max(0, size - offset))
        guard n > 0, offset >= 0 else { return [] }
        return try read(count: n, at: offset)
    }

    /// Nothing held open: each read is its own request on the client's pool.
    public func close() {}

    /// Exactly `count` bytes at `at` (within the object).
    public func read(count: Int, at position: Int) throws(IOError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard position >= 0, position <= size - count else {
            throw IOError(operation: "s3 read past the end (\(position)+\(count) of \(size))", path: client.name(key), errno: EINVAL)
        }
        let r = try client.send(.GET, key: key, headers: [("range", "bytes=\(position)-\(position + count - 1)")],
                                 // Room for an error document even when a few bytes are asked (a thumbnail's chunk header).
                                 maxResponse: max(count, 64 << 10))
        guard r.body.count == count else {
            throw IOError(operation: "s3 ranged GET answered \(r.body.count) bytes, \(count) asked (HTTP \(r.status))", path: client.name(key), errno: EIO)
        }
        return r.body
    }
}

import BodycamEvidence
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// One staged file shipped as a multipart upload, resumable: a node restarted part-way finds its upload with
/// ListMultipartUploads, lists the parts already there with ListParts, keeps each whose size and ETag (the
/// part's MD5 on S3 and RGW) match the bytes it would send, uploads the rest and completes. The whole file is
/// hashed as it is read (parts kept or sent) and must still be the digest it is stored under before the
/// upload is completed; otherwise the upload is aborted and nothing appears under the key.
struct S3Multipart {
    let store: S3BlobStore
    let key: String
    let sha256: String
    let file: PosixFile
    let size: Int
    let what: String

    struct Part: Equatable {
        var number: Int
        var etag: String
        var size: Int
    }

    var client: S3Client { store.client }

    func run() throws(IOError) {
        let uploadID = try findOrCreateUpload()
        let existing = try listParts(uploadID)
        let partSize = store.partSize
        let count = (size + partSize - 1) / partSize
        guard count <= 10_000 else { throw IOError(operation: "commit: \(count) parts, more than S3's 10000", path: what, errno: EFBIG) }
        var whole = SHA256()
        var etags: [String] = []
        for number in 1...count {
            let offset = (number - 1) * partSize
            let bytes = try S3BlobStore.read(file, at: offset, count: min(partSize, size - offset), name: what)
            whole.update(data: bytes)
            let md5 = "\"" + SigV4Signer.hex(Insecure.MD5.hash(data: bytes)) + "\""
            if let held = existing[number], held.size == bytes.count, held.etag == md5 {
                etags.append(held.etag)
                continue
            }
            let r = try client.send(.PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: bytes)
            guard let etag = r.header("etag"), !etag.isEmpty, etag.utf8.count <= 200 else {
                throw IOError(operation: "s3 upload part \(number): no ETag in the answer", path: client.name(key), errno: EIO)
            }
            etags.append(etag)
        }
        guard SigV4Signer.hex(whole.finalize()) == sha256 else {
            _ = try? client.send(.DELETE, key: key, query: [("uploadId", uploadID)], accept: [404])
            throw IOError(operation: "commit: the staged file no longer hashes to \(sha256); upload aborted", path: what, errno: EBADMSG)
        }
        try complete(uploadID, etags)
    }

    /// The newest unfinished upload for this key, or a new one (with the Object Lock headers: they are set at
    /// creation and apply to the completed object). Uploads for the key older than a week are aborted.
    func findOrCreateUpload() throws(IOError) -> String {
        var found: [(id: String, initiated: Int64)] = []
        var keyMarker: String?
        var idMarker: String?
        for _ in 0..<100 {
            var query = [("uploads", ""), ("prefix", key)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let xml = try parse(client.send(.GET, key: nil, query: query, maxResponse: 4 << 20), "ListMultipartUploads")
            for u in xml.all("Upload") where u.value("Key") == key {
                guard let id = u.value("UploadId"), !id.isEmpty else { continue }
                found.append((id, u.value("Initiated").flatMap(CivilTime.parseISO) ?? 0))
            }
            guard xml.value("IsTruncated") == "true", let k = xml.value("NextKeyMarker"), let i = xml.value("NextUploadIdMarker"),
                  (k, i) != (keyMarker ?? "", idMarker ?? "") else { break }
            (keyMarker, idMarker) = (k, i)
        }
        let now = store.clock()
        for stale in found where stale.initiated > 0 && now - stale.initiated > S3BlobStore.staleUploadSeconds {
            _ = try? client.send(.DELETE, key: key, query: [("uploadId", stale.id)], accept: [404])
        }
        if let newest = found.filter({ !($0.initiated > 0 && now - $0.initiated > S3BlobStore.staleUploadSeconds) })
            .max(by: { $0.initiated < $1.initiated }) {
            return newest.id
        }
        let xml = try parse(client.send(.POST, key: key, query: [("uploads", "")], headers: store.lockHeaders()), "CreateMultipartUpload")
        guard let id = xml.value("UploadId"), !id.isEmpty, id.utf8.count <= 1024 else {
            throw IOError(operation: "s3 CreateMultipartUpload: no UploadId in the answer", path: client.name(key), errno: EIO)
        }
        return id
    }

    /// The parts already uploaded, by number.
    func listParts(_ uploadID: String) throws(IOError) -> [Int: Part] {
        var parts: [Int: Part] = [:]
        var marker: String?
        for _ in 0..<100 {
            var query = [("uploadId", uploadID), ("max-parts", "1000")]
            if let marker { query.append(("part-number-marker", marker)) }
            let r = try client.send(.GET, key: key, query: query, accept: [404], maxResponse: 4 << 20)
            // The upload was completed or aborted in between (another node): start a new one next time.
            guard r.status != 404 else { throw IOError(operation: "s3 ListParts: the upload is gone", path: client.name(key), errno: ENOENT) }
            let xml = try parse(r, "ListParts")
            for p in xml.all("Part") {
                guard let n = p.value("PartNumber").flatMap({ Int($0) }), (1...10_000).contains(n), let etag = p.value("ETag"),
                      let s = p.value("Size").flatMap({ Int($0) }), s >= 0 else { continue }
                parts[n] = Part(number: n, etag: etag, size: s)
            }
            guard xml.value("IsTruncated") == "true", let next = xml.value("NextPartNumberMarker"), next != marker else { break }
            marker = next
        }
        return parts
    }

    func complete(_ uploadID: String, _ etags: [String]) throws(IOError) {
        var body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (i, etag) in etags.enumerated() {
            body += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(Self.escape(etag))</ETag></Part>"
        }
        body += "</CompleteMultipartUpload>"
        let r = try client.send(.POST, key: key, query: [("uploadId", uploadID)], body: Array(body.utf8), accept: [404])
        if r.status == 404 {
            // A retried Complete whose first attempt did finish: the object is there with the right size.
            guard let held = try store.head(key), held == size else {
                throw IOError(operation: "s3 CompleteMultipartUpload: the upload is gone and the object is not there", path: client.name(key), errno: EIO)
            }
            return
        }
        // S3 may answer 200 and put an error in the body (the failure came after the headers were sent).
        let xml = try parse(r, "CompleteMultipartUpload")
        if xml.name == "Error" {
            throw IOError(operation: "s3 CompleteMultipartUpload: \(xml.value("Code") ?? "") \(xml.value("Message") ?? "")", path: client.name(key), errno: EIO)
        }
        guard let held = try store.head(key), held == size else {
            throw IOError(operation: "s3 CompleteMultipartUpload: the object is not \(size) bytes after completion", path: client.name(key), errno: EIO)
        }
    }

    func parse(_ r: S3Client.Response, _ what: String) throws(IOError) -> S3XML {
        do { return try S3XML.parse(r.body) } catch {
            throw IOError(operation: "s3 \(what): \(error.description)", path: client.name(key), errno: EIO)
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;").replacingAll("\"", "&quot;")
    }
}

extension String {
    func replacingAll(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}

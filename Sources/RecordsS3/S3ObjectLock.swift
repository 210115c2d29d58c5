import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Object Lock on a blob's versions: retention dates, legal hold, and deletion of every version. Applied to
/// every version of the key, not only the newest: a retried PUT may have left a second version of the same
/// bytes, and each version is evidence the bucket would otherwise let go on its own date.
public struct S3ObjectLock {
    public let client: S3Client
    static let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

    public init(client: S3Client) { self.client = client }

    /// The version ids held under `key` (delete markers included), newest first as S3 lists them.
    public func versions(_ key: String) throws(IOError) -> [String] {
        var ids: [String] = []
        var keyMarker: String?
        var versionMarker: String?
        for _ in 0..<1000 {
            var query = [("versions", ""), ("prefix", key)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let versionMarker { query.append(("version-id-marker", versionMarker)) }
            let xml = try parse(client.send(.GET, key: nil, query: query, maxResponse: 4 << 20), key, "ListObjectVersions")
            for v in xml.children where (v.name == "Version" || v.name == "DeleteMarker") && v.value("Key") == key {
                if let id = v.value("VersionId"), !id.isEmpty { ids.append(id) }
            }
            guard xml.value("IsTruncated") == "true", let k = xml.value("NextKeyMarker"), let v = xml.value("NextVersionIdMarker"),
                  (k, v) != (keyMarker ?? "", versionMarker ?? "") else { break }
            (keyMarker, versionMarker) = (k, v)
        }
        return ids
    }

    /// Deletes every version. Nothing there is fine (a rerun after a crash). A version S3 refuses to delete
    /// is reported with its retain-until date and legal hold, so the operator sees why and when it can go.
    public func removeAllVersions(_ key: String) throws(IOError) {
        for id in try versions(key) {
            let r = try client.send(.DELETE, key: key, query: [("versionId", id)], accept: [403, 404])
            if r.status == 403 {
                let until = (try? retention(key, version: id)) ?? nil
                let hold = (try? legalHold(key, version: id)) ?? nil
                var why = "locked"
                if let until { why += " until \(CivilTime.iso(unixSeconds: until))" }
                if hold == true { why += ", on legal hold" }
                let (code, _) = S3Client.errorDetail(r.body)
                throw IOError(operation: "s3 remove version \(id): \(why) (\(code)); retried by the next retention run", path: client.name(key), errno: EPERM)
            }
        }
    }

    /// Moves every version's COMPLIANCE date to `until` (seconds) where that is later; never earlier (S3
    /// would refuse that anyway in COMPLIANCE mode, and it is never what is meant).
    public func extendRetention(_ key: String, until: Int64) throws(IOError) {
        let ids = try versions(key)
        guard !ids.isEmpty else { throw IOError(operation: "s3 retention: no such blob", path: client.name(key), errno: ENOENT) }
        let body = Array("<Retention \(Self.ns)><Mode>COMPLIANCE</Mode><RetainUntilDate>\(CivilTime.iso(unixSeconds: until))</RetainUntilDate></Retention>".utf8)
        for id in ids {
            if let current = try retention(key, version: id), current >= until { continue }
            _ = try client.send(.PUT, key: key, query: [("retention", ""), ("versionId", id)], body: body)
        }
    }

    public func setLegalHold(_ key: String, on: Bool) throws(IOError) {
        let ids = try versions(key)
        guard !ids.isEmpty else { throw IOError(operation: "s3 legal hold: no such blob", path: client.name(key), errno: ENOENT) }
        let body = Array("<LegalHold \(Self.ns)><Status>\(on ? "ON" : "OFF")</Status></LegalHold>".utf8)
        for id in ids {
            _ = try client.send(.PUT, key: key, query: [("legal-hold", ""), ("versionId", id)], body: body)
        }
    }

    /// The version's retain-until date (seconds), nil when it has none.
    public func retention(_ key: String, version: String? = nil) throws(IOError) -> Int64? {
        var query = [("retention", "")]
        if let version { query.append(("versionId", version)) }
        let r = try client.send(.GET, key: key, query: query, accept: [404])
        if r.status == 404 {
            let (code, _) = S3Client.errorDetail(r.body)
            if code == "NoSuchObjectLockConfiguration" || code == "ObjectLockConfigurationNotFoundError" { return nil }
            throw IOError(operation: "s3 GetObjectRetention: \(code)", path: client.name(key), errno: ENOENT)
        }
        let xml = try parse(r, key, "GetObjectRetention")
        guard let text = xml.value("RetainUntilDate") else { return nil }
        guard let t = CivilTime.parseISO(text) else {
            throw IOError(operation: "s3 GetObjectRetention: unreadable date '\(text.prefix(40))'", path: client.name(key), errno: EIO)
        }
        return t
    }

    /// Whether the version is on legal hold; nil when it never had one set.
    public func legalHold(_ key: String, version: String? = nil) throws(IOError) -> Bool? {
        var query = [("legal-hold", "")]
        if let version { query.append(("versionId", version)) }
        let r = try client.send(.GET, key: key, query: query, accept: [404])
        if r.status == 404 {
            let (code, _) = S3Client.errorDetail(r.body)
            if code == "NoSuchObjectLockConfiguration" || code == "ObjectLockConfigurationNotFoundError" { return nil }
            throw IOError(operation: "s3 GetObjectLegalHold: \(code)", path: client.name(key), errno: ENOENT)
        }
        let xml = try parse(r, key, "GetObjectLegalHold")
        switch xml.value("Status") {
        case "ON": return true
        case "OFF": return false
        default: return nil
        }
    }

    func parse(_ r: S3Client.Response, _ key: String, _ what: String) throws(IOError) -> S3XML {
        do { return try S3XML.parse(r.body) } catch {
            throw IOError(operation: "s3 \(what): \(error.description)", path: client.name(key), errno: EIO)
        }
    }
}

import BodycamEvidence
import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// The bucket check made when the store opens: evidence goes only into a bucket with Object Lock enabled,
/// because in any other bucket an administrator (or a stolen key) could delete or overwrite it.
enum S3Bucket {
    static func ensureObjectLock(_ client: S3Client, create: Bool) throws {
        let bucket = client.location.bucket
        let r = try client.send(.GET, key: nil, query: [("object-lock", "")], accept: [404])
        if r.status == 200 {
            let xml = try S3XML.parse(r.body)
            guard xml.name == "ObjectLockConfiguration", xml.value("ObjectLockEnabled") == "Enabled" else {
                throw StoreLocationError("s3 blob store: bucket \(bucket) does not have Object Lock enabled: refused, evidence in it could be deleted")
            }
            return
        }
        let (code, message) = S3Client.errorDetail(r.body)
        switch code {
        case "NoSuchBucket":
            guard create else { throw StoreLocationError("s3 blob store: no bucket \(bucket)") }
            // Object Lock can only be enabled when the bucket is created (it turns versioning on with it).
            var body: [UInt8] = []
            if client.location.region != "us-east-1" {
                body = Array(("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
                              + client.location.region + "</LocationConstraint></CreateBucketConfiguration>").utf8)
            }
            _ = try client.send(.PUT, key: nil, headers: [("x-amz-bucket-object-lock-enabled", "true")], body: body)
            try ensureObjectLock(client, create: false)
        case "ObjectLockConfigurationNotFoundError":
            throw StoreLocationError("s3 blob store: bucket \(bucket) exists without Object Lock: refused, evidence in it could be deleted "
                                     + "(Object Lock can only be enabled when a bucket is created: use a new bucket)")
        default:
            throw StoreLocationError("s3 blob store: bucket \(bucket): HTTP \(r.status) \(code) \(message)")
        }
    }
}

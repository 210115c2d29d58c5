import BodycamRecords

/// Opens the blob store in an S3 bucket: `s3://BUCKET?endpoint=http://HOST:PORT[&region=R]`. Credentials never
/// come from the command line: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or the shared credentials
/// file (`AWS_SHARED_CREDENTIALS_FILE`, profile `AWS_PROFILE` or `default`). Partial uploads are staged in
/// `stagingRoot` (the node's data folder) and go to the bucket when they are finished.
public enum S3Store {
    public static func openBlobStore(url: String, stagingRoot: String, environment: [String: String]) throws -> any BlobStore {
        throw StoreLocationError("s3 blob store: not built yet")
    }
}

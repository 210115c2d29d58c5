import BodycamEvidence
import BodycamRecords
import Crypto
import Foundation
import Testing
@testable import RecordsS3

/// The S3 blob store against a real gateway (Ceph RGW from `Tests/scale/ceph.sh start DIR PORT`; then
/// `source DIR/env`). Each test uses a bucket of its own. Serialized: one test restarts the gateway.
@Suite(.serialized, .enabled(if: ScaleEnvironment.s3URL != nil, "set BODYCAM_TEST_S3 (source the env file ceph.sh start writes)"))
struct S3StoreTests {
    static let env = ProcessInfo.processInfo.environment

    static func location(bucket: String) throws -> S3Location {
        var l = try S3Location.parse(try #require(ScaleEnvironment.s3URL))
        l.bucket = bucket
        return l
    }

    static func freshBucket(_ tag: String) -> String {
        "bodycam-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func tempDir() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bodycam-s3-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func store(bucket: String, staging: String? = nil, clock: (@Sendable () -> Int64)? = nil, retry: Double = 90) throws -> S3BlobStore {
        try S3BlobStore(location: try location(bucket: bucket), credentials: try S3Credentials.load(environment: env),
                        stagingRoot: staging ?? tempDir(), partSize: 5 << 20, retryWindowSeconds: retry,
                        clock: clock ?? { Int64(Date().timeIntervalSince1970) })
    }

    static let name = UploadName(device: "DEV-000001", folder: "DEV-000001-000001", file: "DEV-000001-000001.manifest.json")!

    /// Deterministic bytes (so a mismatch is a real difference), staged in 4 MiB appends.
    static func stage(_ store: S3BlobStore, bytes count: Int, seed: UInt8 = 1) throws -> String {
        var hash = SHA256()
        var offset = 0
        if count == 0 { #expect(try store.appendPartial(name, at: 0, []) == .appended(size: 0)) }
        while offset < count {
            let n = min(4 << 20, count - offset)
            var piece = [UInt8](repeating: 0, count: n)
            for i in 0..<n { piece[i] = UInt8(truncatingIfNeeded: (offset + i) &* 31 &+ Int(seed) &+ (offset + i) >> 13) }
            hash.update(data: piece)
            #expect(try store.appendPartial(name, at: offset, piece) == .appended(size: offset + n))
            offset += n
        }
        return SigV4Signer.hex(hash.finalize())
    }

    @Test func theGatewayRefusesABodyThatIsNotTheSignedOne() throws {
        let store = try Self.store(bucket: Self.freshBucket("sig"))
        defer { store.shutdown() }
        let body = Array("evidence".utf8)
        do {
            _ = try store.client.send(.PUT, key: "blobs/tampered", body: body, signedPayloadSHA256: SigV4Signer.sha256Hex(Array("Evidence".utf8)))
            Issue.record("the gateway stored a body other than the one signed")
        } catch {
            #expect(error.errno == EBADMSG, "\(error)")
            #expect(error.description.contains("XAmzContentSHA256Mismatch"), "\(error)")
        }
        #expect(!store.hasBlob(String(repeating: "0", count: 64)))
    }

    @Test func smallAndMultipartBlobsRoundTrip() throws {
        let store = try Self.store(bucket: Self.freshBucket("rt"))
        defer { store.shutdown() }
        for size in [0, 1, 5 << 20, 40 << 20] {
            let sha = try Self.stage(store, bytes: size, seed: UInt8(size & 0xFF))
            let started = Date()
            try store.commitPartial(Self.name, sha256: sha)
            let seconds = Date().timeIntervalSince(started)
            if size >= 40 << 20 { print("s3: committed \(size >> 20) MiB in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(size >> 20) / seconds)) MiB/s)") }
            #expect(try store.partialSize(Self.name) == nil, "the staged copy is dropped once the bucket holds it")
            #expect(store.hasBlob(sha))
            let (digest, bytes) = try store.hashBlob(sha)
            #expect(digest == sha && bytes == size)
            if size <= 1 << 20 {
                #expect(SigV4Signer.sha256Hex(try store.readBlob(sha, limit: 1 << 20)) == sha)
            } else {
                #expect(throws: IOError.self) { try store.readBlob(sha, limit: size - 1) }
            }
        }
    }

    @Test func aCommitWhoseStagedBytesNoLongerHashIsRefused() throws {
        let store = try Self.store(bucket: Self.freshBucket("bad"))
        defer { store.shutdown() }
        for size in [1000, 12 << 20] {
            _ = try Self.stage(store, bytes: size)
            let wrong = String(repeating: "ab", count: 32)
            #expect(throws: IOError.self) { try store.commitPartial(Self.name, sha256: wrong) }
            #expect(!store.hasBlob(wrong))
            #expect(try store.partialSize(Self.name) == size, "the staged copy stays when the commit fails")
            store.discardPartial(Self.name)
        }
    }

    /// A first node uploads some parts and dies; a second, with the same staged file, reuses those parts.
    @Test func aMultipartUploadResumesAfterANodeRestart() throws {
        let bucket = Self.freshBucket("resume")
        let staging = Self.tempDir()
        let first = try Self.store(bucket: bucket, staging: staging)
        let size = 23 << 20
        let sha = try Self.stage(first, bytes: size, seed: 7)
        // The first node's upload, cut after parts 1 and 2 (of 5).
        let file = try first.staging.openPartial(Self.name)
        defer { file.close() }
        let upload = S3Multipart(store: first, key: S3BlobStore.key(sha), sha256: sha, file: file, size: size, what: "test")
        let id = try upload.findOrCreateUpload()
        var sentETags: [Int: String] = [:]
        for n in 1...2 {
            let bytes = try S3BlobStore.read(file, at: (n - 1) * first.partSize, count: first.partSize, name: "test")
            sentETags[n] = try first.client.send(.PUT, key: S3BlobStore.key(sha), query: [("partNumber", "\(n)"), ("uploadId", id)], body: bytes).header("etag")
        }
        first.shutdown()

        let second = try Self.store(bucket: bucket, staging: staging)
        defer { second.shutdown() }
        let resumed = S3Multipart(store: second, key: S3BlobStore.key(sha), sha256: sha, file: file, size: size, what: "test")
        #expect(try resumed.findOrCreateUpload() == id, "the second node finds the first one's upload")
        let held = try resumed.listParts(id)
        #expect(held.keys.sorted() == [1, 2] && held[1]?.etag == sentETags[1] && held[2]?.size == second.partSize)
        try second.commitPartial(Self.name, sha256: sha)
        #expect(try second.hashBlob(sha) == (sha, size))
        // The completed object is made of the first node's parts 1 and 2: their ETags are in the listing no more,
        // but no upload is left over for the key.
        #expect(try resumed.findOrCreateUpload() != id)
    }

    @Test func blobsAreWriteOnce() throws {
        let store = try Self.store(bucket: Self.freshBucket("once"))
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 4096, seed: 3)
        try store.commitPartial(Self.name, sha256: sha)
        let versions = try S3ObjectLock(client: store.client).versions(S3BlobStore.key(sha))
        // The same bytes again (another name, a retried finish): kept as is, the upload dropped, no new version.
        _ = try Self.stage(store, bytes: 4096, seed: 3)
        try store.commitPartial(Self.name, sha256: sha)
        #expect(try store.partialSize(Self.name) == nil)
        #expect(try S3ObjectLock(client: store.client).versions(S3BlobStore.key(sha)) == versions && versions.count == 1)
    }

    /// The gateway does the PUT but its answer is lost (it restarted right after): the retry must find the
    /// blob there instead of writing it again, or the bucket would hold the evidence twice (two versions).
    @Test func aPutWhoseAnswerWasLostIsNotDoneTwice() throws {
        let bucket = Self.freshBucket("lost")
        let direct = try Self.store(bucket: bucket)
        defer { direct.shutdown() }
        var location = try Self.location(bucket: bucket)
        let proxy = try LostAnswerProxy(targetPort: location.port, dropAnswerTo: "PUT /\(bucket)/blobs/")
        defer { proxy.stop() }
        location.host = "127.0.0.1"
        location.port = proxy.port
        let store = try S3BlobStore(location: location, credentials: try S3Credentials.load(environment: Self.env),
                                    stagingRoot: Self.tempDir(), partSize: 5 << 20, retryWindowSeconds: 30,
                                    clock: { Int64(Date().timeIntervalSince1970) })
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 100_000, seed: 9)
        try store.commitPartial(Self.name, sha256: sha)
        #expect(proxy.droppedOne, "the proxy never lost an answer: the test did not test anything")
        #expect(try S3ObjectLock(client: direct.client).versions(S3BlobStore.key(sha)).count == 1)
        #expect(try direct.hashBlob(sha).sha256 == sha)
    }

    @Test func aLockedBlobCannotBeRemovedAndTheErrorNamesTheDate() throws {
        let store = try Self.store(bucket: Self.freshBucket("lock"))
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 2000, seed: 9)
        try store.commitPartial(Self.name, sha256: sha)
        let until = try #require(try S3ObjectLock(client: store.client).retention(S3BlobStore.key(sha)))
        let expected = Int64(Date().timeIntervalSince1970) + S3BlobStore.initialRetentionSeconds
        #expect(abs(until - expected) < 120, "retained the non-evidential period from now")
        do {
            try store.removeBlob(sha)
            Issue.record("a locked blob was removed")
        } catch {
            #expect(error.errno == EPERM)
            #expect(error.description.contains(String(CivilTime.iso(unixSeconds: until).prefix(10))), "\(error)")
        }
        #expect(store.hasBlob(sha))
        // Gone already (or never there): fine, a rerun after a crash.
        try store.removeBlob(String(repeating: "0", count: 64))
    }

    /// A blob whose lock has ended is removed with all its versions.
    @Test func anExpiredBlobIsRemoved() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let store = try Self.store(bucket: Self.freshBucket("expire"), clock: { now - S3BlobStore.initialRetentionSeconds + 4 })
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 3000, seed: 4)
        try store.commitPartial(Self.name, sha256: sha)
        #expect(throws: IOError.self) { try store.removeBlob(sha) }
        let reader = try store.openBlob(sha)
        #expect(try reader.read(exactly: 8, at: 0).count == 8)
        Thread.sleep(forTimeInterval: 6)
        try store.removeBlob(sha)
        #expect(!store.hasBlob(sha))
        // A reader opened before the removal: the gateway's answer (NoSuchKey), not a size error.
        do {
            _ = try reader.read(upTo: 8, at: 0)
            Issue.record("read a removed blob")
        } catch {
            #expect(error.errno == ENOENT, "\(error)")
        }
        #expect(try S3ObjectLock(client: store.client).versions(S3BlobStore.key(sha)).isEmpty)
    }

    @Test func legalHoldOnAndOff() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let store = try Self.store(bucket: Self.freshBucket("hold"), clock: { now - S3BlobStore.initialRetentionSeconds + 3 })
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 5000, seed: 5)
        try store.commitPartial(Self.name, sha256: sha)
        let lock = S3ObjectLock(client: store.client)
        let key = S3BlobStore.key(sha)
        #expect(try lock.legalHold(key) != true)
        try store.setLegalHold(sha, on: true)
        #expect(try lock.legalHold(key) == true)
        Thread.sleep(forTimeInterval: 5)
        // The retention date has passed, but the hold keeps it.
        do {
            try store.removeBlob(sha)
            Issue.record("a blob on legal hold was removed")
        } catch {
            #expect(error.description.contains("legal hold"), "\(error)")
        }
        try store.setLegalHold(sha, on: false)
        #expect(try lock.legalHold(key) == false)
        try store.removeBlob(sha)
        #expect(!store.hasBlob(sha))
        #expect(throws: IOError.self) { try store.setLegalHold(sha, on: true) }
    }

    @Test func retentionIsOnlyEverExtended() throws {
        let store = try Self.store(bucket: Self.freshBucket("extend"))
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 6000, seed: 6)
        try store.commitPartial(Self.name, sha256: sha)
        let lock = S3ObjectLock(client: store.client)
        let key = S3BlobStore.key(sha)
        let initial = try #require(try lock.retention(key))
        let later = initial + 400 * 86_400
        try store.extendRetention(sha, until: later * 1_000_000_000 - 1)
        #expect(try lock.retention(key) == later, "rounded up to the whole second")
        try store.extendRetention(sha, until: (initial + 10) * 1_000_000_000)
        #expect(try lock.retention(key) == later, "never moved earlier")
        #expect(throws: IOError.self) { try store.extendRetention(String(repeating: "1", count: 64), until: later * 1_000_000_000) }
    }

    @Test func streamingReadsAreBounded() throws {
        let store = try Self.store(bucket: Self.freshBucket("stream"))
        defer { store.shutdown() }
        let size = 17 << 20 | 12345
        let sha = try Self.stage(store, bytes: size, seed: 8)
        try store.commitPartial(Self.name, sha256: sha)
        let reader = try S3BlobReader(client: store.client, key: S3BlobStore.key(sha))
        #expect(reader.size == size)
        var hash = SHA256()
        var total = 0
        while true {
            let piece = try reader.read(upTo: 1 << 20)
            #expect(piece.count <= 1 << 20)
            if piece.isEmpty { break }
            total += piece.count
            hash.update(data: piece)
        }
        #expect(total == size && SigV4Signer.hex(hash.finalize()) == sha)
        let tail = try reader.read(count: 10, at: size - 10)
        #expect(tail.count == 10)
        #expect(throws: IOError.self) { try reader.read(count: 11, at: size - 10) }
    }

    @Test func aBucketWithoutObjectLockIsRefused() throws {
        let bucket = Self.freshBucket("nolock")
        let client = S3Client(location: try Self.location(bucket: bucket), credentials: try S3Credentials.load(environment: Self.env))
        defer { client.shutdown() }
        _ = try client.send(.PUT, key: nil)
        do {
            _ = try Self.store(bucket: bucket)
            Issue.record("opened a bucket without Object Lock")
        } catch {
            #expect("\(error)".contains("without Object Lock"), "\(error)")
        }
        // And a new bucket is created with it.
        let created = Self.freshBucket("created")
        try Self.store(bucket: created).shutdown()
        let createdClient = S3Client(location: try Self.location(bucket: created), credentials: try S3Credentials.load(environment: Self.env))
        defer { createdClient.shutdown() }
        let xml = try S3XML.parse(try createdClient.send(.GET, key: nil, query: [("object-lock", "")]).body)
        #expect(xml.value("ObjectLockEnabled") == "Enabled")
    }

    /// The entry point `--blobs s3://…` uses: URL and environment (keys, or only the shared credentials file).
    @Test func theEntryPointOpensFromTheURLAndTheEnvironment() throws {
        let url = "s3://\(Self.freshBucket("entry"))?endpoint=\(try Self.location(bucket: "x").endpoint)"
        var env = Self.env
        if let dir = env["BODYCAM_TEST_CEPH_DIR"] {
            env["AWS_ACCESS_KEY_ID"] = nil
            env["AWS_SECRET_ACCESS_KEY"] = nil
            env["AWS_SHARED_CREDENTIALS_FILE"] = dir + "/credentials"
        }
        let any = try S3Store.openBlobStore(url: url, stagingRoot: Self.tempDir(), environment: env)
        let store = try #require(any as? S3BlobStore)
        defer { store.shutdown() }
        let sha = try Self.stage(store, bytes: 3 << 20, seed: 12)
        try any.commitPartial(Self.name, sha256: sha)
        let reader = try any.openBlob(sha)
        defer { reader.close() }
        #expect(reader.size == 3 << 20)
        let middle = try reader.read(exactly: 100, at: 1 << 20)
        var expected = [UInt8](repeating: 0, count: 100)
        for i in 0..<100 { let o = (1 << 20) + i; expected[i] = UInt8(truncatingIfNeeded: o &* 31 &+ 12 &+ o >> 13) }
        #expect(middle == expected)
        #expect(try reader.read(upTo: 10, at: 3 << 20).isEmpty)
        #expect(throws: Error.self) { try S3Store.openBlobStore(url: url.replacingOccurrences(of: "s3://", with: "s3://AK:SK@"), stagingRoot: Self.tempDir(), environment: env) }
        #expect(throws: Error.self) { try S3Store.openBlobStore(url: url, stagingRoot: Self.tempDir(), environment: ["AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"]) }
    }

    /// The records service on S3: evidential extends every file's lock to the 7-year expiry, hold and release
    /// set and lift the legal hold, through `changeRetentionNow` as the admin commands call it.
    @Test func retentionChangesReachTheBucket() throws {
        let data = Self.tempDir()
        let store = try Self.store(bucket: Self.freshBucket("service"), staging: data)
        defer { store.shutdown() }
        let service = try RecordsService.open(dataDirectory: data, blobs: { store })
        let now = Int64(Date().timeIntervalSince1970) * 1_000_000_000
        let id = "DEV-000001-000001"
        var shas: [String] = []
        for (i, file) in ["\(id).manifest.json", "\(id).manifest.sig"].enumerated() {
            let name = try #require(UploadName(device: "DEV-000001", folder: id, file: file))
            let bytes = Array("file \(i) \(UUID())".utf8)
            #expect(try store.appendPartial(name, at: 0, bytes) == .appended(size: bytes.count))
            let sha = SigV4Signer.sha256Hex(bytes)
            try store.commitPartial(name, sha256: sha)
            shas.append(sha)
            try service.catalogue.writeNow { try $0.insertFile(FileRecord(deviceID: "DEV-000001", folder: id, file: file, sha256: sha, bytes: bytes.count, receivedUTC: now)) }
        }
        try service.catalogue.writeNow {
            try $0.insertRecording(RecordingRecord(recordingID: id, deviceID: "DEV-000001", officer: nil, trigger: "button", startUTC: now - 60_000_000_000,
                                                   endUTC: now, markers: 0, frames: 1, bytes: 1, manifestSHA256: shas[0], receivedUTC: now, receipt: []))
        }
        let lock = S3ObjectLock(client: store.client)
        let r = try service.changeRetentionNow(recordingID: id, .category(.evidential, caseReference: "OP-1"))
        let until = RetentionCategory.evidential.expiresUTC(of: r)
        for sha in shas {
            let held = try #require(try lock.retention(S3BlobStore.key(sha)))
            #expect(held == (until + 999_999_999) / 1_000_000_000, "locked to the evidential expiry")
        }
        _ = try service.changeRetentionNow(recordingID: id, .hold(reason: "complaint"))
        #expect(try shas.allSatisfy { try lock.legalHold(S3BlobStore.key($0)) == true })
        _ = try service.changeRetentionNow(recordingID: id, .release)
        #expect(try shas.allSatisfy { try lock.legalHold(S3BlobStore.key($0)) == false })
    }

    @Test func wrongCredentialsAreAClearError() throws {
        var creds = try S3Credentials.load(environment: Self.env)
        creds.secretKey += "x"
        do {
            _ = try S3BlobStore(location: try Self.location(bucket: Self.freshBucket("creds")), credentials: creds, stagingRoot: Self.tempDir())
            Issue.record("opened with a wrong secret")
        } catch {
            #expect("\(error)".contains("SignatureDoesNotMatch") || "\(error)".contains("403"), "\(error)")
        }
    }

    /// The gateway restarted in the middle of a multipart upload: the client retries and the blob arrives whole.
    @Test(.enabled(if: env["BODYCAM_TEST_CEPH_SCRIPT"] != nil && env["BODYCAM_TEST_CEPH_DIR"] != nil, "needs ceph.sh's env (restarts the gateway)"))
    func survivesAGatewayRestartMidUpload() throws {
        let store = try Self.store(bucket: Self.freshBucket("restart"))
        defer { store.shutdown() }
        let size = 64 << 20
        let sha = try Self.stage(store, bytes: size, seed: 11)
        let script = Self.env["BODYCAM_TEST_CEPH_SCRIPT"]!, dir = Self.env["BODYCAM_TEST_CEPH_DIR"]!
        let pidFile = dir + "/run/client.rgw.a.pid"
        let before = try String(contentsOfFile: pidFile, encoding: .utf8)
        // The restart begins 0.3 s into the commit, while the parts are going up (64 MiB take over a second).
        // posix_spawn and waitpid rather than Foundation's Process, which here never noticed the script's exit.
        let argv = ["/bin/sh", "-c", "sleep 0.3; exec \"$0\" restart-gateway \"$1\" >/dev/null 2>&1", script, dir]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, "/bin/sh", nil, nil, &cArgs, environ) == 0)
        let started = Date()
        try store.commitPartial(Self.name, sha256: sha)
        print("s3: committed 64 MiB across a gateway restart in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        #expect(status & 0x7F == 0 && (status >> 8) & 0xFF == 0, "ceph.sh restart-gateway exited with status \(status)")
        #expect(try String(contentsOfFile: pidFile, encoding: .utf8) != before, "the gateway was restarted")
        #expect(try store.hashBlob(sha) == (sha, size))
    }
}

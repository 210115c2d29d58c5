import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// Adversarial review of the per-request read deadline (RequestDeadline.swift) and the idle timeout behind it.
@Suite struct DeadlineReviewTests {
    /// Over TLS, the head deadline also covers the handshake: a client that opens a TLS connection and
    /// dribbles its ClientHello a byte at a time (never finishing it) is closed within the head deadline,
    /// as the deadline handler's clock starts at accept, before TLS.
    @Test func aDribbledTLSHandshakeIsCutByTheHeadDeadline() async throws {
        let data = TestFolders.make()
        let key = data + "/tls.key", cert = data + "/tls.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                             "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        let identity = try ServiceIdentity.load(dataDirectory: data, create: true)
        let service = RecordsService(dataDirectory: data, identity: identity, catalogue: try SQLiteCatalogue(path: data + "/" + SQLiteCatalogue.fileName),
                                     blobs: try FolderBlobStore(root: data), clock: { 0 })
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = try RecordsServer.application(service: service, host: "127.0.0.1", port: 0, tls: TLSFiles(certificateChain: cert, privateKey: key),
                                                logLevel: .critical) { _, port in continuation.yield(port) }
        let task = Task(executorPreference: ServiceExecutor.shared) { try await app.run() }
        defer { task.cancel() }
        var listening = 0
        for await p in ports { listening = p; break }
        let port = listening
        let patience = RequestDeadlineTests.patience
        let outcome = try await Blocking.run {
            let c = RawConnection(port: port)
            defer { c.close() }
            // A TLS record header for a handshake message of 512 bytes, then its bytes one by one.
            c.send([0x16, 0x03, 0x01, 0x02, 0x00])
            return c.dribble([0x01, 0x00, 0x01, 0xfc] + [UInt8](repeating: 0x03, count: 508), everyMilliseconds: 500, forSeconds: patience)
        }
        #expect(outcome.ended, "still open after \(patience) s")
    }
}

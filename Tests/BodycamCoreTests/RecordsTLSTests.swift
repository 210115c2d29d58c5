import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The dock link over TLS: `bodycam-records serve --tls-cert --tls-key`, and the camera's OpenSSL client
/// (HAL) that trusts only the CA it was given and checks the service's name.
@Suite(.serialized)
struct RecordsTLSTests {
    /// A CA and certificates made with the `openssl` command for one test: `ca.pem` (the force's CA),
    /// `records.pem`/`records.key` for 127.0.0.1 and localhost signed by it, `named.pem`/`named.key` signed
    /// by it for records.example only, and `rogue-ca.pem` with `rogue.pem`/`rogue.key` for 127.0.0.1.
    struct PKI {
        let dir: String
        var ca: String { dir + "/ca.pem" }
        var service: (certificate: String, key: String) { (dir + "/records.pem", dir + "/records.key") }
        var named: (certificate: String, key: String) { (dir + "/named.pem", dir + "/named.key") }
        var rogueCA: String { dir + "/rogue-ca.pem" }
        var rogue: (certificate: String, key: String) { (dir + "/rogue.pem", dir + "/rogue.key") }

        init() throws {
            dir = TestSupport.temporaryDirectory("pki")
            try makeCA("ca", "Test Force CA")
            try makeCA("rogue-ca", "Someone Else CA")
            try issue("records", by: "ca", names: "IP:127.0.0.1,DNS:localhost")
            try issue("named", by: "ca", names: "DNS:records.example")
            try issue("rogue", by: "rogue-ca", names: "IP:127.0.0.1,DNS:localhost")
        }

        private func openssl(_ arguments: [String]) throws {
            let out = try TestSupport.run("/usr/bin/openssl", arguments)
            guard out.status == 0 else { throw RecordsServer.Failure("openssl \(arguments.first ?? ""): \(out.stderr)") }
        }

        private func makeCA(_ name: String, _ cn: String) throws {
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem", "-days", "2", "-subj", "/CN=\(cn)",
                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }

        private func issue(_ name: String, by ca: String, names: String) throws {
            let ext = "\(dir)/\(name).ext"
            try Data("subjectAltName=\(names)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8).write(to: URL(fileURLWithPath: ext))
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", "\(dir)/\(ca).pem", "-CAkey", "\(dir)/\(ca).key",
                         "-set_serial", "\(Int.random(in: 1...1_000_000))", "-days", "2", "-extfile", ext, "-out", "\(dir)/\(name).pem"])
        }
    }

    /// One GET through the camera's client; the failure's message, or nil when it was answered.
    static func failure(port: Int, host: String = "127.0.0.1", trust: TLSTrust?) -> String? {
        let client = HTTPClient(host: host, port: UInt16(port), tls: trust, timeoutSeconds: 5)
        do throws(HTTPClient.Failure) {
            _ = try client.send(method: "GET", target: "/v1/recordings", headers: [], body: UnsafeRawBufferPointer(start: nil, count: 0))
            return nil
        } catch { return error.message }
    }

    @Test func aCameraDocksOverTLSAndItsRecordingsArriveVerified() throws {
        let pki = try PKI()
        let server = try RecordsServer(tls: pki.service)
        #expect(server.url.hasPrefix("https://"))
        #expect(try server.admin(["officer", "add", "PC-7", "--name", "Officer 7", "--trained"]).status == 0)
        let storage = TestSupport.temporaryDirectory("records-camera")
        let out = try RecordsServiceTests.camera(storage, server, device: "BWV-0007", token: try server.enrolmentToken("BWV-0007"),
                                                 script: """
            dock
            wait 2s
            assign PC-7
            undock
            \(RecordsServiceTests.record)
            dock
            wait 30s
            expect offloading false
            expect local_recordings 0

            """, extra: ["--records-ca", pki.ca])
        #expect(out.status == 0, "\(out.stderr)\n\(out.events("offload"))")
        #expect(out.events("offload").filter { $0["action"] as? String == "recording-offloaded" }.count == 2)
        let (status, list) = try RecordsServiceTests.catalogue(server, tls: try TLSTrust(caFile: pki.ca))
        #expect(status == 200)
        #expect(list.count == 2 && list.allSatisfy { $0["officer"] as? String == "PC-7" }, "\(list)")
    }

    @Test func aServiceWhoseCertificateTheCameraDoesNotTrustGetsNothing() throws {
        let pki = try PKI()
        let server = try RecordsServer(tls: pki.rogue) // an impostor on the dock network, with its own CA
        let storage = TestSupport.temporaryDirectory("records-camera")
        let out = try RecordsServiceTests.camera(storage, server, device: "BWV-0008", token: try server.enrolmentToken("BWV-0008"),
                                                 script: RecordsServiceTests.record + "dock\nwait 10s\nexpect local_recordings 2\n",
                                                 extra: ["--records-ca", pki.ca])
        #expect(out.status == 0, "\(out.stderr)")
        let errors = out.events("offload").compactMap { $0["error"] as? String ?? $0["message"] as? String }
        #expect(errors.contains { $0.contains("not trusted") }, "\(out.events("offload"))")
        #expect(RecordsServiceTests.localManifests(storage).count == 2)
        // Nothing reached the service: not even the enrolment.
        #expect(try server.admin(["devices"]).stdout.contains("BWV-0008 enrolled") == false)
    }

    @Test func theCertificateMustNameTheHostTheCameraDocksAt() throws {
        let pki = try PKI()
        let server = try RecordsServer(tls: pki.named) // a good chain, for records.example, reached as 127.0.0.1
        let trust = try TLSTrust(caFile: pki.ca)
        let message = try #require(Self.failure(port: server.port, trust: trust))
        #expect(message.contains("not trusted") && message.contains("mismatch"), "\(message)")
        // Reached under the name it was issued for, the same chain is good (a DNS name, checked as such).
        let good = try RecordsServer(tls: pki.service)
        #expect(Self.failure(port: good.port, host: "localhost", trust: trust) == nil)
        #expect(Self.failure(port: good.port, host: "127.0.0.1", trust: trust) == nil)
    }

    @Test func tlsAndPlainHTTPDoNotMixSilently() throws {
        let pki = try PKI()
        let plain = try RecordsServer()
        let tls = try RecordsServer(tls: pki.service)
        // TLS to a plain service, and plain HTTP to a TLS service: a clear failure, never a hang or an answer.
        #expect(Self.failure(port: plain.port, trust: try TLSTrust(caFile: pki.ca)) != nil)
        #expect(Self.failure(port: tls.port, trust: nil) != nil)
    }

    @Test func badTLSSettingsStopAtStartWithOneLine() throws {
        let pki = try PKI()
        let data = TestSupport.temporaryDirectory("records-data")
        for args in [["--tls-cert", pki.service.certificate], ["--tls-key", pki.service.key],
                     ["--tls-cert", pki.dir + "/missing.pem", "--tls-key", pki.service.key],
                     ["--tls-cert", pki.service.key, "--tls-key", pki.service.key]] {
            let out = try TestSupport.run(RecordsServer.binary, ["serve", "--data", data, "--listen", "127.0.0.1:0"] + args)
            #expect(out.status != 0, "\(args)")
            #expect(out.stderr.contains("tls") || out.stderr.contains("TLS"), "\(args): \(out.stderr)")
        }
        // The camera: a CA file that is missing, or given for a plain http:// service.
        let storage = TestSupport.temporaryDirectory("records-camera")
        let missing = try TestSupport.bodycam(["run", "--storage", storage, "--records", "https://127.0.0.1:1", "--records-ca", pki.dir + "/none.pem"],
                                              stdin: "quit\n")
        #expect(missing.status != 0 && missing.stderr.contains("--records-ca"), "\(missing.stderr)")
        let plain = try TestSupport.bodycam(["run", "--storage", storage, "--records", "http://127.0.0.1:1", "--records-ca", pki.ca],
                                            stdin: "quit\n")
        #expect(plain.status != 0 && plain.stderr.contains("--records-ca"), "\(plain.stderr)")
        // A records URL refused after the camera started: a clean exit every time (it crashed in about one run
        // in four, tearing the camera down under its running writer).
        for _ in 0..<10 {
            let bad = try TestSupport.bodycam(["run", "--storage", storage, "--records", "ftp://127.0.0.1:1"], stdin: "quit\n")
            #expect(bad.status == 2 && bad.stderr.contains("expected https://") && !bad.stderr.contains("Fatal error"), "\(bad.stderr.prefix(300))")
        }
    }
}

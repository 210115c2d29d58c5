import ArgumentParser
import BodycamCore
import BodycamEvidence

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check recordings and audit trails offline: signatures, hashes, frames, order, hash chain, signed head.",
        discussion: """
        PATH is a device's storage folder, a recordings folder, one manifest (.manifest.json), a central \
        records folder, or a court bundle (a folder with bundle.json, exported by the records service). Prints \
        one line per recording and audit trail; every failure names the file and the check. Signatures are \
        checked against the keys in --trusted-keys (lines 'DEVICE-ID ed25519 HEX': \
        `bodycam key STORAGE` prints a camera's line at enrolment; central records keep theirs in \
        RECORDS/trusted-keys). Without --trusted-keys, integrity is checked against the key in device.json, \
        which anyone could replace: nothing is called verified and the exit status is 3.
        A court bundle is checked trusting only the line 'RECORDS ed25519 HEX' (the force's records key): it \
        vouches for each device key (the signed pins in the bundle), which vouch for the manifests; every \
        file must be listed in the signed bundle.json with its size and SHA-256, and nothing else may be \
        there. Without --trusted-keys the bundle's own records-key is used and the exit status is 3.
        Exit status: 0 verified; 1 a check failed; 3 intact but not verified (no trusted keys).
        """)

    @Argument(help: "What to check.") var path: String
    @Option(help: "File of trusted keys (one 'DEVICE-ID ed25519 HEX' a line; 'RECORDS ed25519 HEX' for a court bundle).") var trustedKeys: String?

    func run() throws {
        var trusted: TrustedKeys?
        if let file = trustedKeys {
            do { trusted = try TrustedKeys.read(file) } catch {
                diagnostic("--trusted-keys \(error)")
                throw ExitCode(2)
            }
        }
        var v = Verifier(trusted: trusted)
        v.verify(path: path)
        for f in v.findings { print(f) }
        let failed = v.failures.count
        let keys = v.keysUsed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        if failed > 0 {
            print("verification FAILED: \(failed) problem(s)")
            throw ExitCode(1)
        }
        if v.verified {
            print("verified: all \(v.findings.count) checked item(s) are intact, signed by trusted key(s) \(keys)")
        } else {
            print("NOT VERIFIED: the \(v.findings.count) item(s) are intact, but no trusted keys were given (--trusted-keys); key(s) used: \(keys)")
            throw ExitCode(3)
        }
    }
}

struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a camera's trusted-keys line (DEVICE-ID ed25519 HEX), to enrol it with a checker or records.")

    @Argument(help: "The device's storage folder.") var storage: String

    func run() throws {
        do {
            let info = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName)
            print(TrustedKeys.line(deviceID: info.deviceID, key: info.publicKey))
        } catch {
            diagnostic("\(error)")
            throw ExitCode(1)
        }
    }
}

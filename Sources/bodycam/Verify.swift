import ArgumentParser
import BodycamCore

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check recordings and audit trails offline: signatures, hashes, frames, order, hash chain.",
        discussion: """
        PATH is a device's storage folder, a recordings folder, one manifest (.manifest.json), or a central \
        records folder. Prints one line per recording and audit trail; every failure names the file and the \
        check. Exits 0 only when everything checks.
        """)

    @Argument(help: "What to check.") var path: String
    @Option(help: "The device's Ed25519 public key (hex); default: the nearest device.json.") var publicKey: String?

    func run() throws {
        var v = Verifier(publicKeyHex: publicKey)
        v.verify(path: path)
        for f in v.findings { print(f) }
        let failed = v.failures.count
        print(failed == 0 ? "verified: all \(v.findings.count) checked item(s) are intact"
                          : "verification FAILED: \(failed) problem(s)")
        if failed > 0 { throw ExitCode(1) }
    }
}

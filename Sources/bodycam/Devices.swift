import ArgumentParser
import BodycamCore
import BodycamEvidence

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List V4L2 cameras with their formats, sizes and frame rates.",
        discussion: "A device that cannot be opened or is not a V4L2 device gets a line on stderr (the system's reason) and exit status 1; the others are still listed.")

    @Argument(help: "Devices to describe (default: every /dev/video*).") var paths: [String] = []

    func run() throws {
        let nodes = paths.isEmpty ? V4L2Catalog.nodes() : paths
        if nodes.isEmpty {
            print("no V4L2 devices (/dev/video*) on this machine; `bodycam run` uses synthetic frames")
            return
        }
        var failed = false
        for n in nodes {
            do { print(try V4L2Catalog.describe(path: n)) } catch {
                diagnostic(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

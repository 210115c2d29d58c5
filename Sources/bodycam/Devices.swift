import ArgumentParser
import BodycamCore
import BodycamEvidence

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List V4L2 cameras with their formats, sizes and frame rates.")

    @Argument(help: "Devices to describe (default: every /dev/video*).") var paths: [String] = []

    func run() throws {
        let nodes = paths.isEmpty ? V4L2Catalog.nodes() : paths
        if nodes.isEmpty {
            print("no V4L2 devices (/dev/video*) on this machine; `bodycam run` uses synthetic frames")
            return
        }
        for n in nodes { print(V4L2Catalog.describe(path: n)) }
    }
}

import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

@Suite struct BlobStoreTests {
    static func mount(_ dir: String, size: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    static func unmount(_ dir: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/umount")
        p.arguments = [dir]
        try? p.run()
        p.waitUntilExit()
    }

    /// Mounting needs root (CI has it); elsewhere the test is skipped.
    static let canMount: Bool = {
        let dir = TestFolders.make("mount-probe")
        let ok = mount(dir, size: "64k")
        if ok { unmount(dir) }
        return ok
    }()

    /// A real ENOSPC from a tiny tmpfs: the chunk that does not fit is refused and the upload holds exactly
    /// what it held before, so the camera resumes at the same offset once there is room.
    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func aFullDiskKeepsTheUploadAtItsLastGoodOffset() throws {
        let root = TestFolders.make()
        try #require(Self.mount(root, size: "1m"))
        defer { Self.unmount(root) }
        let store = try FolderBlobStore(root: root)
        let name = try #require(UploadName(device: "DEV-000001", folder: "DEV-000001-000001", file: "DEV-000001-000001.manifest.json"))
        let first = [UInt8](repeating: 1, count: 600 << 10)
        #expect(try store.appendPartial(name, at: 0, first) == .appended(size: first.count))
        do {
            _ = try store.appendPartial(name, at: first.count, [UInt8](repeating: 2, count: 600 << 10))
            Issue.record("a write past the end of the disk succeeded")
        } catch {
            #expect(error.isOutOfSpace, "\(error)")
        }
        #expect(try store.partialSize(name) == first.count)
        #expect(try store.hashPartial(name).sha256 == Hex.sha256(first))
        // Once there is room again the upload goes on from there and is stored under its digest.
        let rest = [UInt8](repeating: 3, count: 100 << 10)
        #expect(try store.appendPartial(name, at: first.count, rest) == .appended(size: first.count + rest.count))
        let digest = Hex.sha256(first + rest)
        try store.commitPartial(name, sha256: digest)
        #expect(try store.readBlob(digest, limit: 1 << 20) == first + rest)
        #expect(try store.partialSize(name) == nil)
    }

    /// A link planted where an upload's folder or file would be is never followed.
    @Test func aPlantedLinkIsNotFollowed() throws {
        let root = TestFolders.make()
        let store = try FolderBlobStore(root: root)
        let outside = TestFolders.make("outside")
        try FileManager.default.createSymbolicLink(atPath: root + "/uploads/DEV-000001", withDestinationPath: outside)
        let name = try #require(UploadName(device: "DEV-000001", folder: "DEV-000001-000001", file: "DEV-000001-000001.manifest.sig"))
        #expect(throws: IOError.self) { try store.appendPartial(name, at: 0, [1, 2, 3]) }
        #expect(TestFolders.files(under: outside).isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: outside))?.isEmpty == true)
    }
}

import Foundation

/// The cross-check after the dock storm: every recording every camera made is in the catalogue exactly
/// once, with the manifest the camera signed and the officer it was checked out to; nothing else is listed
/// for those cameras; and every recording gone from a camera was deleted only after the camera had logged
/// a receipt for it (read from the camera's own audit trail).
public struct FleetCheck: Sendable {
    public var expected = 0
    public var catalogued = 0
    public var missing: [String] = []
    public var duplicated: [String] = []
    public var unexpected: [String] = []
    public var wrongManifest: [String] = []
    public var wrongOfficer: [String] = []
    /// Still on the camera after its last dock (not lost: not yet delivered).
    public var leftOnCamera: [String] = []
    /// Gone from the camera with no receipt logged before: evidence lost.
    public var deletedWithoutReceipt: [String] = []
    /// Audit trails that could not be read.
    public var unreadableTrails: [String] = []

    public var passed: Bool {
        missing.isEmpty && duplicated.isEmpty && unexpected.isEmpty && wrongManifest.isEmpty && wrongOfficer.isEmpty
            && leftOnCamera.isEmpty && deletedWithoutReceipt.isEmpty && unreadableTrails.isEmpty
    }

    public init(results: [FleetRun.CameraResult], listed: [String: [RecordsAdmin.Listed]]) {
        for camera in results {
            let rows = listed[camera.deviceID] ?? []
            let byID = Dictionary(grouping: rows, by: \.recording_id)
            expected += camera.manifests.count
            for (id, sha) in camera.manifests.sorted(by: { $0.key < $1.key }) {
                guard let found = byID[id] else {
                    missing.append(id)
                    continue
                }
                catalogued += 1
                if found.count > 1 { duplicated.append(id) }
                if found.contains(where: { $0.manifest_sha256 != sha }) { wrongManifest.append(id) }
                if found.contains(where: { $0.officer != camera.officer }) { wrongOfficer.append("\(id) (\(found[0].officer ?? "no officer"), checked out to \(camera.officer))") }
            }
            unexpected += byID.keys.filter { camera.manifests[$0] == nil }.sorted()
            checkTrail(camera)
        }
    }

    /// Walks the camera's audit trail in order: a recording's `offloaded` (its local copies deleted) must come
    /// after a `receipt` for the same manifest; a recording not on the camera must have been offloaded.
    private mutating func checkTrail(_ camera: FleetRun.CameraResult) {
        let trailPath = camera.storage + "/state/audit.jsonl"
        guard let data = FileManager.default.contents(atPath: trailPath) else {
            unreadableTrails.append(trailPath)
            return
        }
        var receipts: [String: String] = [:]
        var offloaded: Set<String> = []
        for line in data.split(separator: 10) {
            guard let entry = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let event = entry["event"] as? String else {
                unreadableTrails.append(trailPath)
                return
            }
            let recording = entry["recording"] as? String ?? ""
            if event == "receipt" { receipts[recording] = entry["manifest_sha256"] as? String ?? "" }
            if event == "offloaded" {
                if receipts[recording] == nil || receipts[recording] != camera.manifests[recording] {
                    deletedWithoutReceipt.append("\(recording) (\(camera.deviceID): deleted with no receipt for its manifest before)")
                }
                offloaded.insert(recording)
            }
        }
        for id in camera.manifests.keys.sorted() {
            let local = FileManager.default.fileExists(atPath: camera.storage + "/recordings/\(id).manifest.json")
            if local { leftOnCamera.append(id) } else if !offloaded.contains(id) {
                deletedWithoutReceipt.append("\(id) (\(camera.deviceID): gone from the camera, never offloaded)")
            }
        }
    }
}

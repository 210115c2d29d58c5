import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// The writer thread: takes jobs from the `RecordingQueue`, appends frames straight from the ring's arena
/// to AVI segments (rotating at the configured duration or size, syncing every `syncInterval`), and
/// finishes each recording through the evidence step. A segment is only opened for a frame that is about
/// to be written, and one that ends up with no frame is removed, so every segment file holds video.
final class RecordingWriter {
    private let settings: RecorderSettings
    private let queue: RecordingQueue
    private let events: EventSink
    private let evidence: RecordingEvidence
    private let segment: AVISegmentWriter
    private let frameInterval: Nanos
    private var reserve: SpaceReserve
    private var active: ActiveRecording?
    private var thread: OSThread?

    /// The open segment, as far as frames actually went into it.
    struct OpenSegment {
        var index: Int
        var path: String
        var firstSeq: UInt64
        var firstMono: Nanos
        var firstUTC: Int64
        var lastSeq: UInt64
        var lastUTC: Int64
        var lastSyncMono: Nanos
    }

    /// The recording being written. A class: updated in place for every frame, never copied.
    final class ActiveRecording {
        var info: RecordingInfo
        var open: OpenSegment?
        var segments: [SegmentRecord] = []
        var failed = false
        /// Frames of this recording that are in no finished segment.
        var lostFrames: UInt64 = 0
        var lastWritten: (mono: Nanos, utc: Int64)?
        /// The audit trail was made durable since this recording started.
        var auditSynced = false
        /// Frames the source skipped between this recording's frames (its own sequence gaps).
        var sourceSkipped: UInt64 = 0

        init(info: RecordingInfo) {
            self.info = info
            segments.reserveCapacity(16)
        }

        /// When the writer's events about this recording happen: its last written frame's camera time and
        /// UTC, stamped at capture (so a dock clock correction made since is in them), or its start.
        var eventTime: (mono: Nanos, utc: Int64) { lastWritten ?? (info.startMono, info.startUTC) }
    }

    init(settings: RecorderSettings, queue: RecordingQueue, events: EventSink, evidence: Evidence?) {
        self.settings = settings
        self.queue = queue
        self.events = events
        self.evidence = RecordingEvidence(directory: settings.directory, fps: settings.fps, evidence: evidence, events: events)
        frameInterval = Nanos.perSecond / Nanos(max(settings.fps, 1))
        segment = AVISegmentWriter(width: settings.width, height: settings.height, fps: settings.fps,
                                   frameCapacity: settings.segmentFrameCapacity)
        reserve = SpaceReserve(path: settings.directory + "/.space-reserve",
                               bytes: AVILayout.segmentOverheadBytes + settings.segmentFrameCapacity * AVILayout.indexEntryBytes + 65_536)
        reserve.claim()
        thread = OSThread { [unowned self] in self.run() }
    }

    /// Claims the space reserve again (the card has space again).
    func reclaimReserve() { reserve.claim() }

    /// Waits for the thread to end (after `RecordingQueue.beginShutdown`).
    func join() {
        thread?.join()
        thread = nil
    }

    private func run() {
        while true {
            switch queue.nextJob() {
            case .write(let index, let frame, let bytes, let recording, let outOfSpace):
                if active?.info.owner != recording.owner { active = ActiveRecording(info: recording) }
                let stored = write(frame, bytes: bytes, into: active!, outOfSpace: outOfSpace)
                queue.written(index, stored: stored)
            case .finish(let info):
                finish(info)
                queue.finished(owner: info.owner)
            case .exit:
                return
            }
        }
    }

    /// Appends one frame, rotating segments as needed. False if the frame was lost to a write error.
    private func write(_ frame: RingFrame, bytes: UnsafeRawBufferPointer, into a: ActiveRecording, outOfSpace: Bool) -> Bool {
        if a.failed {
            a.lostFrames += 1
            return false
        }
        var appended = false
        do throws(IOError) {
            let rotate = a.open.map { frame.mono - $0.firstMono >= settings.segmentMaxDuration
                || !segment.canAppend(frame.length, maxFileBytes: settings.segmentMaxBytes) } ?? false
            // Frames that never came (skipped by the source, damaged, no room) keep their place in the timeline
            // as empty chunks, so the recording plays for as long as it was recorded.
            // Counted from the segment's first frame, not from the last gap, so errors never accumulate. A frame
            // takes a new slot only when it is more than 3/4 of an interval late for the next one: uneven
            // delivery (late, then a quick catch-up, as drivers on a busy CPU do) then adds no slot it would
            // have to give back, and the timeline stays within an interval of the frames' own times.
            if let open = a.open {
                let missing = Int(clamping: (frame.mono - open.firstMono + frameInterval / 4) / frameInterval) - segment.entries
                let n = segment.placeholderRoom(missing, before: rotate ? 0 : frame.length, maxFileBytes: settings.segmentMaxBytes)
                if n > 0 { try segment.appendPlaceholders(n) }
            }
            if rotate { try closeSegment(a) }
            // An injected full card fails the frame before any file is made for it.
            if outOfSpace { throw IOError(operation: "write", path: settings.directory, errno: ENOSPC) }
            if a.open == nil { try openSegment(for: frame, in: a) }
            try segment.append(bytes)
            appended = true
            if a.lastWritten != nil { a.sourceSkipped += UInt64(frame.sourceSkipped) } // gaps inside the recording
            a.open!.lastSeq = frame.sequence
            a.open!.lastUTC = frame.utc
            a.lastWritten = (frame.mono, frame.utc)
            if frame.mono - a.open!.lastSyncMono >= settings.syncInterval {
                a.open!.lastSyncMono = frame.mono
                // The entry that started the recording goes to disk no later than its first synced frames:
                // recovery after a power cut signs only recordings the trail says this camera started.
                if !a.auditSynced {
                    evidence.syncAudit()
                    a.auditSynced = true
                }
                try segment.sync()
            }
            return true
        } catch {
            a.failed = true
            var abandoned: UInt64 = 0
            if segment.isOpen {
                if error.isOutOfSpace {
                    // Give back the reserve so the frames already written get their index and header.
                    reserve.release()
                    do { try closeSegment(a) } catch { abandoned = abandonSegment(a) }
                } else {
                    abandoned = abandonSegment(a)
                }
            }
            a.open = nil
            // Appended before a failing sync, the frame is kept if its segment still closed. In an abandoned
            // segment it is lost with the others (counted there); the frames before it were counted written.
            let kept = appended && abandoned == 0
            if !appended { a.lostFrames += 1 }
            if abandoned > 0 { queue.moveToLost(frames: abandoned - (appended ? 1 : 0)) }
            queue.fail(error.isOutOfSpace ? .outOfSpace : .ioError)
            events.emit(.writerError(recording: a.info.id, error, at: (frame.mono, frame.utc)))
            return kept
        }
    }

    private func openSegment(for frame: RingFrame, in a: ActiveRecording) throws(IOError) {
        let index = a.segments.count + 1
        guard let id = EvidenceNames.RecordingID.parse(a.info.id) else { preconditionFailure("recording id \(a.info.id)") }
        let path = settings.directory + "/" + EvidenceNames.Segment(startUTC: frame.utc, recording: id, index: index).fileName
        do {
            try segment.open(path: path, directory: settings.directory)
        } catch {
            // The writer made the file (unless it was there already): an empty segment is not kept.
            if error.errno != EEXIST { unlink(path + EvidenceNames.unfinishedSuffix) }
            throw error
        }
        a.open = OpenSegment(index: index, path: path, firstSeq: frame.sequence, firstMono: frame.mono, firstUTC: frame.utc,
                             lastSeq: frame.sequence, lastUTC: frame.utc, lastSyncMono: frame.mono)
    }

    /// Finishes the open segment: closed, renamed, hashed and listed. One with no frame is removed instead.
    private func closeSegment(_ a: ActiveRecording) throws(IOError) {
        guard let open = a.open else { return }
        guard segment.frames > 0 else {
            segment.abandon()
            unlink(open.path + EvidenceNames.unfinishedSuffix)
            a.open = nil
            return
        }
        let frames = segment.frames, placeholders = segment.placeholders
        let (path, bytes) = try segment.close()
        a.open = nil
        queue.countSegmentWritten()
        a.segments.append(evidence.seal(
            RecordingEvidence.ClosedSegment(recordingID: a.info.id, index: open.index, path: path, bytes: bytes, frames: frames,
                                            placeholders: placeholders,
                                            firstSeq: open.firstSeq, lastSeq: open.lastSeq, firstUTC: open.firstUTC,
                                            lastUTC: open.lastUTC),
            at: a.eventTime))
    }

    /// Leaves a segment that cannot be finished as `.part` for recovery; its frames are in no manifest.
    /// Returns how many frames it held.
    private func abandonSegment(_ a: ActiveRecording) -> UInt64 {
        let frames = UInt64(segment.frames)
        segment.abandon()
        if frames == 0, let open = a.open { unlink(open.path + EvidenceNames.unfinishedSuffix) }
        a.open = nil
        a.lostFrames += frames
        return frames
    }

    /// Closes the recording's last segment and seals it: manifest, audit entry, `finalized` event.
    private func finish(_ info: RecordingInfo) {
        let a = active?.info.owner == info.owner ? active! : ActiveRecording(info: info)
        a.info = info
        active = nil
        if a.open != nil {
            do { try closeSegment(a) } catch {
                a.failed = true
                queue.moveToLost(frames: abandonSegment(a))
                events.emit(.writerError(recording: a.info.id, error, at: a.eventTime))
            }
        }
        let time = a.eventTime
        evidence.seal(recording: info, segments: a.segments, lostFrames: a.lostFrames, sourceSkipped: a.sourceSkipped,
                      complete: !a.failed, at: time)
        let frames = a.segments.reduce(0) { $0 + $1.frames }, bytes = a.segments.reduce(0) { $0 + $1.bytes }
        events.emit(Event("recording", mono: time.mono, utc: time.utc, [
            ("action", .string("finalized")), ("id", .string(info.id)), ("trigger", .string(info.trigger)),
            ("frames", .int(Int64(frames))), ("segments", .int(Int64(a.segments.count))), ("bytes", .int(Int64(bytes))),
            ("first_seq", a.segments.first.map { .int(Int64($0.firstSeq)) } ?? .null),
            ("last_seq", a.segments.last.map { .int(Int64($0.lastSeq)) } ?? .null),
            ("dropped_frames", .int(Int64(info.droppedFrames))), ("source_skipped_frames", .int(Int64(a.sourceSkipped))),
            ("missing_frames", .int(Int64(a.segments.reduce(0) { $0 + $1.missingFrames }))), ("complete", .bool(!a.failed)),
        ]))
    }
}

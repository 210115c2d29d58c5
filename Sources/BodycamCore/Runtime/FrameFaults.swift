import BodycamEvidence
/// Fault injection on the frames themselves (`fault corrupt-frames N`): a capability a frame source may
/// have, so the runtime asks for it by protocol and never by concrete source type.
public protocol FrameDamageInjecting: AnyObject {
    /// The next `count` frames arrive damaged (dropped and counted by the frame path).
    func damageNextFrames(_ count: Int)
}

/// The synthetic source damages frames as a driver would flag them (raw) or truncates them (JPEG).
extension SyntheticSource: FrameDamageInjecting {}

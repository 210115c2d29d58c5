import BodycamEvidence
/// A battery gauge: charge drains at a current that depends on the device state, and fills on the dock.
/// Integer arithmetic in milliamp-nanoseconds, so the same script gives the same levels on every run.
public struct Battery: Equatable, Sendable {
    public struct Config: Equatable, Sendable {
        public var capacityMilliampHours: Int64 = 3000
        /// Draw per state in mA. Ready is calibrated for about 12 h with some recording:
        /// 3000 mAh / 235 mA = 12.8 h in ready, 9.4 h recording all the time.
        public var drawOff: Int64 = 1
        public var drawBooting: Int64 = 250
        public var drawReady: Int64 = 235
        public var drawRecording: Int64 = 320
        public var drawSleep: Int64 = 25
        /// Charging current on the dock: empty to full in 3.5 h.
        public var chargeCurrent: Int64 = 857
        public var lowAlerts: [Int] = [10, 5]
        /// At this level the camera finalizes any recording and powers off.
        public var cutoffPercent = 1
        /// Below this it will not boot unless docked.
        public var minBootPercent = 3
        public init() {}

        public func draw(_ state: PowerState) -> Int64 {
            switch state {
            case .off: return drawOff
            case .booting: return drawBooting
            case .ready: return drawReady
            case .recording: return drawRecording
            case .sleep: return drawSleep
            case .docked: return -chargeCurrent
            }
        }
    }

    static let nanosPerHour: Int64 = 3600 * 1_000_000_000
    public let config: Config
    /// Charge in mA·ns.
    public private(set) var charge: Int64
    public var capacity: Int64 { config.capacityMilliampHours * Battery.nanosPerHour }

    public init(config: Config = Config(), percent: Int = 100) {
        self.config = config
        charge = 0
        set(percent: percent)
    }

    /// Whole percent, rounded up like a phone's gauge: 100 while full-ish, 0 only when empty.
    /// (In steps of a hundredth of the capacity, which divides exactly: charge × 100 would overflow at
    /// the largest capacities.)
    public var percent: Int {
        let step = capacity / 100
        return Int((charge + step - 1) / step)
    }

    public mutating func set(percent: Int) {
        charge = capacity / 100 * Int64(min(max(percent, 0), 100))
    }

    /// Runs the battery for `duration` in `state`.
    public mutating func run(_ state: PowerState, for duration: Nanos) {
        guard duration > 0 else { return }
        charge = min(capacity, max(0, charge - config.draw(state) * duration))
    }

    /// When, from now, the gauge will next show a different whole percent in `state` (nil: never).
    public func timeToNextPercent(_ state: PowerState) -> Nanos? {
        let draw = config.draw(state)
        let step = capacity / 100
        let p = Int64(percent)
        if draw > 0 {
            guard p > 0 else { return nil }
            // Shows p-1 once charge <= (p-1) percent.
            let excess = charge - (p - 1) * step
            return (excess + draw - 1) / draw
        } else if draw < 0 {
            guard p < 100 else { return nil }
            // Shows p+1 once charge > p percent.
            return (p * step - charge) / -draw + 1
        }
        return nil
    }
}

import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The device rules, one by one, on the pure state machine: inputs with times in, outputs out.
struct DeviceMachineTests {
    static let ms = Nanos.perMillisecond, s = Nanos.perSecond

    /// A machine plus a clock: every input is applied at `t`, deadlines in between are ticked.
    struct Harness {
        var machine: DeviceMachine
        var t: Nanos = 0
        var outputs: [DeviceOutput] = []

        init(config: DeviceConfig = DeviceConfig(), battery: Int = 100, ready: Bool = true) {
            machine = DeviceMachine(config: config, batteryPercent: battery)
            send(.powerOn)
            if ready { wait(config.bootTime) }
        }

        mutating func send(_ input: DeviceInput) {
            outputs += machine.handle(input, at: t)
        }

        /// Moves time on, delivering ticks at every deadline like the runtime does.
        mutating func wait(_ d: Nanos) {
            let end = t + d
            while let next = machine.nextDeadline, next <= end {
                t = next
                send(.tick)
            }
            t = end
            send(.tick)
        }

        mutating func press(_ b: Button, for d: Nanos = 100 * DeviceMachineTests.ms) {
            send(.down(b)); wait(d); send(.up(b))
        }

        mutating func double(_ b: Button, gap: Nanos = 200 * DeviceMachineTests.ms) {
            send(.down(b)); wait(100 * DeviceMachineTests.ms); send(.up(b))
            wait(gap - 100 * DeviceMachineTests.ms)
            send(.down(b)); wait(100 * DeviceMachineTests.ms); send(.up(b))
        }

        /// Outputs since the last call.
        mutating func take() -> [DeviceOutput] {
            defer { outputs = [] }
            return outputs
        }

        var state: PowerState { machine.state }
    }

    static func states(_ outputs: [DeviceOutput]) -> [PowerState] {
        outputs.compactMap { if case .state(_, let to, _) = $0 { return to } else { return nil } }
    }

    static func alerts(_ outputs: [DeviceOutput]) -> [String] {
        outputs.compactMap { if case .alert(let kind, _) = $0 { return kind } else { return nil } }
    }

    @Test func bootsIntoReadyAndStartsCapture() {
        var h = Harness(ready: false)
        #expect(h.state == .booting)
        h.wait(2 * Self.s)
        #expect(h.state == .ready)
        #expect(h.take().contains(.startCapture))
    }

    @Test(arguments: [(499, true), (500, true), (501, false)])
    func doublePressWindowIsMeasuredDownToDown(gapMs: Int64, starts: Bool) {
        var h = Harness()
        h.send(.down(.record)); h.wait(50 * Self.ms); h.send(.up(.record))
        h.wait((gapMs - 50) * Self.ms)
        h.send(.down(.record)); h.wait(50 * Self.ms); h.send(.up(.record))
        #expect(h.state == (starts ? .recording : .ready))
        #expect(h.take().contains(.startRecording(trigger: "button")) == starts)
    }

    @Test(arguments: [(2900, false), (3000, true)])
    func holdingRecordForThreeSecondsStops(heldMs: Int64, stops: Bool) {
        var h = Harness()
        h.double(.record)
        _ = h.take()
        h.press(.record, for: heldMs * Self.ms)
        #expect(h.state == (stops ? .ready : .recording))
        let out = h.take()
        #expect(out.contains(.stopRecording(cause: "button")) == stops)
        if stops {
            #expect(out.contains(.feedback(.recordStop, suppressed: false)))
            #expect(out.contains(.gesture(.hold(.record))))
        }
    }

    @Test func holdIsRecognisedWhileTheButtonIsStillDown() {
        var h = Harness()
        h.double(.record)
        _ = h.take()
        h.send(.down(.record))
        h.wait(3 * Self.s)
        #expect(h.state == .ready) // stopped at 3 s, before the release
        h.send(.up(.record))
        #expect(!h.take().contains(.gesture(.press(.record))))
    }

    @Test func recordStartGivesTwoTonesAndTwoVibrationsAndRemindersEveryTwoMinutes() {
        var h = Harness()
        h.double(.record)
        #expect(h.take().contains(.feedback(Feedback(kind: "record-start", tones: 2, vibrations: 2, longTone: false), suppressed: false)))
        h.wait(5 * 60 * Self.s)
        let reminders = h.take().filter { $0 == .feedback(.recordReminder, suppressed: false) }
        #expect(reminders.count == 2) // at 2 and 4 minutes
    }

    @Test func functionPressWhileRecordingAddsAMarker() {
        var h = Harness()
        h.press(.function) // not recording: no marker
        #expect(!h.take().contains(.marker))
        h.double(.record)
        h.press(.function)
        #expect(h.take().contains(.marker))
        h.press(.function) // quickly again: a second marker, not a "double"
        #expect(h.take().contains(.marker))
        #expect(h.machine.markers == 2)
    }

    @Test(arguments: [(2900, true), (3100, false)])
    func powerThenFunctionWithinThreeSecondsSleeps(gapMs: Int64, sleeps: Bool) {
        var h = Harness()
        h.press(.power)
        h.wait((gapMs - 100) * Self.ms)
        h.press(.function)
        #expect(h.state == (sleeps ? .sleep : .ready))
        #expect(h.take().contains(.stopCapture) == sleeps)
    }

    @Test func sleepIgnoresTriggersRemindsEveryFifteenMinutesAndPowerWakesIt() {
        var h = Harness()
        h.press(.power); h.press(.function)
        #expect(h.state == .sleep)
        _ = h.take()
        h.send(.trigger(.holster))
        #expect(h.state == .sleep)
        #expect(h.take() == [.triggerIgnored(.holster, reason: "camera is sleep")])
        h.wait(31 * 60 * Self.s)
        #expect(h.take().filter { $0 == .feedback(.sleepReminder, suppressed: false) }.count == 2)
        h.press(.power)
        #expect(h.state == .ready)
        #expect(h.take().contains(.startCapture))
    }

    @Test func triggersStartARecordingOnlyFromReady() {
        for source in TriggerSource.allCases {
            var h = Harness()
            h.send(.trigger(source))
            #expect(h.state == .recording)
            #expect(h.take().contains(.startRecording(trigger: source.rawValue)))
            h.send(.trigger(.taser))
            #expect(h.take() == [.triggerIgnored(.taser, reason: "already recording")])
        }
        var docked = Harness()
        docked.send(.dock)
        docked.send(.trigger(.taser))
        #expect(docked.state == .docked)
        var off = Harness()
        off.press(.power, for: 3 * Self.s)
        off.send(.trigger(.taser))
        #expect(off.state == .off)
        var booting = Harness(ready: false)
        booting.send(.trigger(.taser))
        #expect(booting.state == .booting)
    }

    @Test func stealthSuppressesFeedbackAndLEDsButReportsThem() {
        var h = Harness()
        h.press(.function, for: 3 * Self.s)
        #expect(h.machine.stealth)
        #expect(h.take().contains(.led(.greenBlink, suppressed: true)))
        h.double(.record)
        let out = h.take()
        #expect(out.contains(.feedback(.recordStart, suppressed: true)))
        #expect(out.contains(.led(.redBlink, suppressed: true)))
        h.press(.function, for: 3 * Self.s)
        #expect(!h.machine.stealth)
    }

    @Test func holdingPowerTurnsOffFinalizingTheRecordingAndHoldingAgainBoots() {
        var h = Harness()
        h.double(.record)
        _ = h.take()
        h.press(.power, for: 3 * Self.s)
        let out = h.take()
        #expect(h.state == .off)
        #expect(out.contains(.stopRecording(cause: "power-off")) && out.contains(.stopCapture))
        h.press(.power, for: 2900 * Self.ms)
        #expect(h.state == .off)
        h.press(.power, for: 3 * Self.s)
        #expect(h.state == .booting)
    }

    @Test func aRecordingLongerThanTheMaximumContinuesInANewOne() {
        var c = DeviceConfig()
        c.maxRecording = 10 * Self.s
        var h = Harness(config: c)
        h.double(.record)
        _ = h.take()
        h.wait(25 * Self.s)
        #expect(h.take().filter { $0 == .splitRecording }.count == 2)
        #expect(h.state == .recording)
    }

    @Test func dockingWhileRecordingFinalizesFirstAndUndockingReturnsToReady() {
        var h = Harness()
        h.double(.record)
        _ = h.take()
        h.send(.dock)
        let out = h.take()
        let stop = out.firstIndex(of: .stopRecording(cause: "docked"))
        let docked = out.firstIndex(of: .state(from: .recording, to: .docked, cause: "dock"))
        #expect(stop != nil && docked != nil && stop! < docked!)
        #expect(out.contains(.stopCapture))
        h.send(.undock)
        #expect(h.state == .ready)
        #expect(h.take().contains(.startCapture))
    }

    @Test func batteryAlertsAtTenAndFivePercentOnceEach() {
        var h = Harness(battery: 12)
        h.wait(2 * 3600 * Self.s) // enough to pass both levels in ready (235 mA: 1 % in 7.7 min)
        let alerts = Self.alerts(h.take())
        #expect(alerts.filter { $0 == "battery-low" }.count == 2)
    }

    @Test func batteryCutOffFinalizesTheRecordingAndPowersOffAndItWillNotBootUntilCharged() {
        var h = Harness(battery: 3)
        h.double(.record)
        _ = h.take()
        h.wait(3600 * Self.s)
        let out = h.take()
        #expect(h.state == .off)
        #expect(out.contains(.stopRecording(cause: "battery-cutoff")))
        #expect(out.contains(.state(from: .recording, to: .off, cause: "battery-cutoff")))
        h.press(.power, for: 3 * Self.s)
        #expect(h.state == .off)
        #expect(Self.alerts(h.take()).contains("battery-too-low"))
        h.send(.dock)
        #expect(h.state == .docked)
        h.wait(3600 * Self.s)
        #expect(h.machine.battery.percent > 20)
    }

    @Test func aFullBatteryLastsAboutTwelveHoursInReadyWithSomeRecordingAndChargesInUnderFour() {
        var h = Harness()
        var hours: Nanos = 0
        // Each hour: 54 minutes ready, 6 minutes recording (10 %).
        while h.state != .off && hours < 20 {
            h.wait(54 * 60 * Self.s)
            if h.state == .off { break }
            h.send(.trigger(.holster))
            h.wait(6 * 60 * Self.s)
            if h.state == .recording { h.press(.record, for: 3 * Self.s) }
            hours += 1
        }
        #expect(hours >= 11 && hours <= 13, "lasted \(hours) h")
        h.send(.dock)
        let docked = h.t
        while h.machine.battery.percent < 100 { h.wait(60 * Self.s) }
        let charge = Double(h.t - docked) / Double(3600 * Self.s)
        #expect(charge >= 3 && charge <= 4, "charged in \(charge) h")
    }

    /// Every whole percent over the whole range of capacities the options allow, without overflow: the
    /// gauge reads what the charge says, rounded up, and the next change comes when predicted.
    @Test(arguments: [100, 3000, 100_000] as [Int64])
    func theGaugeReadsEveryPercentAtAnyAllowedCapacity(capacity: Int64) {
        var c = Battery.Config()
        c.capacityMilliampHours = capacity
        for percent in 0...100 {
            var b = Battery(config: c, percent: percent)
            #expect(b.percent == percent)
            guard percent > 0, let next = b.timeToNextPercent(.recording) else { continue }
            b.run(.recording, for: next - 1)
            #expect(b.percent == percent)
            b.run(.recording, for: 1)
            #expect(b.percent == percent - 1)
        }
    }

    @Test func recordingIsRefusedWithoutStorageAndStopsWhenStorageRunsOut() {
        var c = DeviceConfig()
        c.storageNeededToRecord = 1000
        var h = Harness(config: c)
        h.send(.storage(freeBytes: 999))
        h.double(.record)
        #expect(h.state == .ready)
        #expect(Self.alerts(h.take()).contains("storage-full"))
        h.send(.storage(freeBytes: 1000))
        h.double(.record)
        #expect(h.state == .recording)
        h.send(.storageFull)
        #expect(h.state == .ready)
        let out = h.take()
        #expect(out.contains(.stopRecording(cause: "storage-full")))
        #expect(Self.alerts(out).contains("storage-full"))
    }

    @Test func losingTheCameraStopsTheRecordingAndRefusesNewOnesUntilItIsBack() {
        var h = Harness()
        h.double(.record)
        h.send(.cameraLost)
        #expect(h.state == .ready)
        #expect(h.take().contains(.stopRecording(cause: "camera-lost")))
        h.send(.trigger(.taser))
        #expect(h.state == .ready)
        h.send(.cameraBack)
        h.send(.trigger(.taser))
        #expect(h.state == .recording)
    }

    @Test func shutdownFinalizesAndHalts() {
        var h = Harness()
        h.double(.record)
        _ = h.take()
        h.send(.shutdown)
        #expect(h.take() == [.stopRecording(cause: "shutdown"), .feedback(.recordStop, suppressed: false), .stopCapture, .halt])
    }

    @Test func gestureRecogniserIgnoresRepeatedAndOrphanEdges() {
        var g = GestureRecognizer(doubleWindow: 500 * Self.ms, holdTime: 3 * Self.s)
        #expect(g.up(.record, at: 0) == nil)
        #expect(g.down(.record, at: 0) == nil)
        #expect(g.down(.record, at: 10) == nil)
        #expect(g.up(.record, at: 100 * Self.ms) == .press(.record))
        #expect(g.down(.record, at: 400 * Self.ms) == .double(.record))
        #expect(g.up(.record, at: 500 * Self.ms) == nil)
        // A third press right after a double is a new first press, not another double.
        #expect(g.down(.record, at: 600 * Self.ms) == nil)
    }
}

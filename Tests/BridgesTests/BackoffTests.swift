@testable import Bridges
import Testing

/// The reconnect delays as a value: no time passes, the instants are given.
@Suite struct BackoffTests {
    @Test func failedTriesDoubleUpToTheMaximum() {
        var b = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        #expect([b.failed(), b.failed(), b.failed(), b.failed()] == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500)])
    }

    @Test func aConnectionLostAtOnceKeepsDoublingAndOneThatLastedStartsAgain() {
        var b = Backoff(initial: .milliseconds(100), maximum: .seconds(5), stableAfter: .seconds(5))
        let t0 = ContinuousClock.now
        var delays: [Duration] = []
        for i in 0..<4 {                                         // connected, lost 10 ms later, four times
            let at = t0 + .seconds(i)
            b.connected(at: at)
            delays.append(b.lost(at: at + .milliseconds(10)))
        }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        b.connected(at: t0 + .seconds(10))
        #expect(b.lost(at: t0 + .seconds(16)) == .milliseconds(100), "a connection that lasted resets the delays")
    }
}

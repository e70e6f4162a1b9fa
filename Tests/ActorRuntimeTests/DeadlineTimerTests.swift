@testable import ActorRuntime
import ActorRuntimeTesting
import Testing

@Suite struct DeadlineTimerTests {
    @Test func firesInDeadlineOrderAndNeverAfterCancel() async throws {
        let fired = AwaitableQueue<String>()
        let timer = DeadlineTimer.shared
        _ = timer.schedule(after: .milliseconds(60)) { fired.append("late") }
        let cancelled = timer.schedule(after: .milliseconds(30)) { fired.append("cancelled") }
        _ = timer.schedule(after: .milliseconds(10)) { fired.append("early") }
        timer.cancel(cancelled)
        #expect(await fired.next(within: .seconds(5)) == "early")
        #expect(await fired.next(within: .seconds(5)) == "late")
        #expect(await fired.next(within: .milliseconds(100)) == nil, "a cancelled deadline never fires")
    }
}

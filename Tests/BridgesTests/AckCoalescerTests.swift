@testable import Bridges
import Testing

@Suite struct AckCoalescerTests {
    @Test func acksBecomeOneMultipleAckForTheSettledPrefixSkippingRejected() {
        var c = AckCoalescer()
        for tag in 1...6 { c.delivered(UInt64(tag)) }
        c.acked(2, multiple: false)
        #expect(c.takeAckable() == nil, "1 is still outstanding")
        c.acked(1, multiple: false)
        #expect(c.takeAckable() == 2)
        c.rejected(3)
        #expect(c.takeAckable() == nil, "a rejected tag is never named in an ack")
        c.acked(4, multiple: false)
        #expect(c.takeAckable() == 4)
        c.rejected(5)
        c.acked(6, multiple: true)
        #expect(c.takeAckable() == 6)
        c.delivered(7)
        c.rejected(7)
        #expect(c.takeAckable() == nil)
    }
}

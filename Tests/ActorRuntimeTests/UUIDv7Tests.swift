import ActorRuntime
import Foundation
import Testing

@Suite struct UUIDv7Tests {
    @Test func layoutHasTimestampVersionAndVariant() {
        let millis: UInt64 = 1_771_497_000_123
        let id = UUIDv7Generator(millisecondsSinceEpoch: { millis }).next()
        #expect(id.version == 7)
        #expect(id.uuid.8 >> 6 == 0b10, "RFC 9562 variant")
        #expect(id.v7Milliseconds == millis)
        #expect(id.lowercasedString.hasPrefix("019c7573-0cbb-7"))
    }

    @Test func monotonicAcross100kIdsInOneMillisecond() {
        let generator = UUIDv7Generator(millisecondsSinceEpoch: { 1_771_497_000_000 })
        var previous = generator.next()
        var outOfOrder = 0
        var badLayout = 0
        for _ in 0..<100_000 {
            let next = generator.next()
            if next.lowercasedString <= previous.lowercasedString { outOfOrder += 1 }
            if next.version != 7 || next.uuid.8 >> 6 != 0b10 { badLayout += 1 }
            previous = next
        }
        #expect(outOfOrder == 0)
        #expect(badLayout == 0)
        #expect(previous.v7Milliseconds == 1_771_497_000_000)
    }

    @Test func staysMonotonicWhenTheClockStepsBack() {
        let clock = ClockBox(2_000)
        let generator = UUIDv7Generator(millisecondsSinceEpoch: { clock.value })
        let a = generator.next()
        clock.value = 1_000
        let b = generator.next()
        #expect(b.lowercasedString > a.lowercasedString)
        #expect(b.v7Milliseconds == 2_000)
    }

    @Test func roundTripsThroughTheEnvelope() throws {
        let id = UUID.v7()
        let envelope = Envelope(id: id, topic: "t", producerId: "p", correlationId: "c")
        #expect(try Envelope.decode(envelope.jsonData()).id == id)
        #expect(abs(Int64(id.v7Milliseconds) - Int64(Date().timeIntervalSince1970 * 1000)) < 5_000)
    }
}

final class ClockBox: @unchecked Sendable {
    var value: UInt64
    init(_ v: UInt64) { value = v }
}

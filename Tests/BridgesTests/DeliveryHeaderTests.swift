import ActorRuntime
import ActorRuntimeTesting
@testable import Bridges
import Foundation
import Testing

/// Headers a delivery arrives with come from anyone who can publish: Troupe reads them without trapping,
/// never routes a copy to a queue that does not exist, and keeps every header it does not own, whatever
/// its AMQP type, on the retry, dead and replayed copies.
@Suite struct DeliveryHeaderTests {
    struct Flaky: Error {}

    /// A valid envelope published with `headers`, as an outside producer would.
    func publish(_ f: ConsumerFixture, _ envelope: Envelope, headers: [String: AMQPValue]) async throws {
        var message = OutboxRelay.message(envelope)
        message.headers = headers
        try await f.publisher.publish(exchange: f.broker.exchange, routingKey: envelope.topic, message)
    }

    @Test func oddAttemptCountsAreReadSanelyAndEveryFailingMessageEndsDead() async throws {
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(50), .milliseconds(50)]) { _, _ in throw TransientError(Flaky()) }
        let cases: [(String, AMQPValue)] = [
            ("huge", .int(Int64.max)), ("negative", .int(-5)), ("text", .string("three")), ("zero", .int(0)),
        ]
        var ids: [String: UUID] = [:]
        for (n, (name, attempts)) in cases.enumerated() {
            let e = orderEnvelope(n: n)
            ids[name] = e.id
            try await publish(f, e, headers: ["x-attempts": attempts, "x-error": .string(String(repeating: "e", count: 100_000))])
        }
        try await eventually("every failing message dead-lettered") { f.consumer.stats.deadLettered == cases.count }
        let dead = try f.deadLetters()
        #expect(dead.count == cases.count, "none lost on the way")
        let byID = Dictionary(uniqueKeysWithValues: dead.map { ($0.messageID ?? "", $0) })
        for (name, _) in cases {
            let letter = try #require(byID[ids[name]!.lowercasedString], "\(name) reached the dead queue")
            let attempts = try #require(letter.headers["x-attempts"]?.intValue, "\(name) has an attempt count")
            #expect((1...3).contains(attempts), "\(name): x-attempts \(attempts) within the topology's 3")
            let error = try #require(letter.headers["x-error"]?.stringValue)
            #expect(error.utf8.count <= 1024, "\(name): x-error is Troupe's own, bounded (\(error.utf8.count) bytes)")
        }
        await f.stop()
    }

    @Test func headersOfEveryTypeSurviveTheRetryAndDeadCopiesAndTheReplay() async throws {
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(50)]) { envelope, _ in
            if envelope.topic == "order.failing" { throw TransientError(Flaky()) }
        }
        let theirs: [String: AMQPValue] = [
            "x-death": .array([.table(["count": .int(2), "reason": .string("rejected"), "queue": .string("elsewhere"),
                                       "time": .timestamp(1_771_497_000), "routing-keys": .array([.string("order.created")])])]),
            "flag": .bool(true), "ratio": .double(0.25), "single": .float(1.5), "price": .decimal(scale: 2, value: 1999),
            "small": .sizedInt(7, kind: .i8), "word": .sizedInt(65_000, kind: .u16), "raw": .bytes([0, 1, 2, 255]),
            "nothing": .void, "nested": .table(["inner": .table(["deep": .array([.int(1), .bool(false)])])]),
        ]
        let e = orderEnvelope("order.failing", n: 1)
        try await publish(f, e, headers: theirs)
        try await eventually("dead-lettered after its retry") { f.consumer.stats.deadLettered == 1 }
        let dead = try #require(try f.deadLetters().first)
        expectKept(theirs, on: dead, "the dead copy")
        #expect(dead.headers["x-attempts"] == .int(2))

        try await DeadLetterQueue.replay(url: TestBroker.url, component: f.broker.component, id: e.id.lowercasedString)
        try await eventually("the replayed copy failed and died again") { f.consumer.stats.deadLettered == 2 }
        let again = try #require(try f.deadLetters().first)
        expectKept(theirs, on: again, "the replayed copy")
        await f.stop()
    }

    /// A header nested far deeper than any real one (a frame can hold tens of thousands of levels) is read
    /// down to 32 levels, not by a recursion that could overflow the consumer thread's stack.
    @Test func aHeaderNestedTooDeepIsCutNotFollowed() async throws {
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(50)]) { _, _ in throw PermanentError(Flaky()) }
        var deep: AMQPValue = .int(1)
        for _ in 0..<200 { deep = .array([deep]) }
        try await publish(f, orderEnvelope(n: 1), headers: ["deep": deep])
        try await eventually("dead-lettered") { f.consumer.stats.deadLettered == 1 }
        let dead = try #require(try f.deadLetters().first)
        var value = try #require(dead.headers["deep"]), levels = 0
        while case .array(let inner) = value, let first = inner.first { value = first; levels += 1 }
        #expect(levels == 32)
        #expect(value.stringValue?.contains("dropped: nested deeper than 32") == true, "\(value)")
        await f.stop()
    }

    /// Every header of `theirs` is on `message` as it was, but `x-death`, to which the broker adds its own
    /// entries as the retry queue dead-letters the message back: the entry it came with must still be there.
    func expectKept(_ theirs: [String: AMQPValue], on message: AMQPMessage, _ copy: String) {
        for (key, value) in theirs where key != "x-death" { #expect(message.headers[key] == value, "\(key) kept on \(copy)") }
        guard case .array(let original)? = theirs["x-death"], case .array(let now)? = message.headers["x-death"] else {
            Issue.record("x-death is not an array on \(copy): \(String(describing: message.headers["x-death"]))")
            return
        }
        #expect(original.allSatisfy(now.contains), "the x-death entry it came with is kept on \(copy): \(now)")
    }

    /// The Inventory case of issue 16: an envelope whose correlation id cannot travel as an AMQP property
    /// (its replies copy it there) is dead-lettered with the reason, and its handler never runs.
    @Test func anEnvelopeOverTheWireLimitsIsDeadLetteredNamingTheField() async throws {
        let f = try await ConsumerFixture()
        var long = orderEnvelope(n: 1)
        long.correlationId = String(repeating: "c", count: 300)
        try await f.publisher.publish(exchange: f.broker.exchange, routingKey: long.topic,
                                      AMQPMessage(body: long.jsonBytes(), messageID: long.id.lowercasedString, type: long.topic))
        let good = orderEnvelope(n: 2)
        try await f.publish([good])
        try await eventually("the good one handled and the long one dead") { f.consumer.stats.handled == 1 && f.consumer.stats.deadLettered == 1 }
        #expect(try await f.effectCount(long.id) == 0)
        let dead = try #require(try f.deadLetters().first)
        #expect(dead.headers["x-error"]?.stringValue?.contains("correlationId") == true, "\(String(describing: dead.headers["x-error"]))")
        await f.stop()
    }
}

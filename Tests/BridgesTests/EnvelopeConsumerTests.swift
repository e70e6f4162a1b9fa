import ActorRuntimeTesting
import Synchronization
import ActorRuntime
@testable import Bridges
import Foundation
import Testing

@Suite struct EnvelopeConsumerTests {
    @Test func envelopesTravelExchangeToQueueToHandlerAndAreAckedAfterCommit() async throws {
        let f = try await ConsumerFixture()
        let envelopes = (0..<200).map { orderEnvelope(n: $0) }
        try await f.publish(envelopes)
        try await f.publish([orderEnvelope("user.created")])                // not bound: never arrives
        try await eventually("200 handled") { f.consumer.stats.handled == 200 }
        #expect(try await f.effectCount() == 200)
        #expect(f.consumer.stats == .init(handled: 200, duplicates: 0, retried: 0, deadLettered: 0))
        // Closing returns unacked deliveries to the queue: none come back, so every one was acked.
        await f.consumer.close()
        #expect(try f.broker.count(WireTopology.queue(f.broker.component)) == 0)
        let inbox = try await f.pool.withConnection { try $0.query("SELECT count(*) AS n FROM troupe_inbox WHERE component = $1", [f.broker.component]).rows[0].decode("n", as: Int.self) }
        #expect(inbox == 200)
        await f.stop()
    }

    @Test func terminatedDatabaseConnectionsMidStreamLoseNothingAndDuplicateNothing() async throws {
        let f = try await ConsumerFixture(batchSize: 16)
        let killer = try f.db.connection()
        let envelopes = (0..<600).map { orderEnvelope(n: $0) }
        for chunk in stride(from: 0, to: 600, by: 100) {
            try await f.publish(Array(envelopes[chunk..<(chunk + 100)]))
            // The server ends every connection of this test's pool, wherever they are in a batch.
            try killer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [f.db.schema])
        }
        try await eventually("all 600 handled") { try await f.effectCount() == 600 }
        let distinct = try await f.pool.transaction { try $0.query("SELECT count(DISTINCT envelope_id) AS n FROM effects").rows[0].decode("n", as: Int.self) }
        #expect(distinct == 600)
        #expect(f.pool.replacedConnections >= 1)
        #expect(f.consumer.stats.deadLettered == 0)
        await f.stop()
    }

    @Test func aDuplicateEnvelopeHasItsEffectOnce() async throws {
        let f = try await ConsumerFixture()
        let once = orderEnvelope(n: 1)
        try await f.publish([once, orderEnvelope(n: 2), once])
        try await eventually("both envelopes handled") { f.consumer.stats.handled == 2 && f.consumer.stats.duplicates == 1 }
        try await f.publish([once])                                         // re-published later: still once
        try await eventually("the late duplicate acked") { f.consumer.stats.duplicates == 2 }
        #expect(try await f.effectCount(once.id) == 1)
        #expect(try await f.effectCount() == 2)
        await f.stop()
    }

    @Test func poisonMessagesAreDeadLetteredWithTheReasonAndTheNextIsStillHandled() async throws {
        let f = try await ConsumerFixture()
        try await f.publishRaw("not json at all")
        try await f.publishRaw(#"{"id": "0193c0de-0000-7000-8000-000000000001", "topic": "order.created"}"#)
        var future = orderEnvelope(n: 9)
        future.version = 99
        try await f.publish([future])
        let good = orderEnvelope(n: 3)
        try await f.publish([good])
        try await eventually("the good envelope handled") { try await f.effectCount(good.id) == 1 }
        try await eventually("three dead letters") { f.consumer.stats.deadLettered == 3 }
        let dead = try f.deadLetters()
        #expect(dead.count == 3)
        let errors = dead.compactMap { $0.headers["x-error"]?.stringValue }
        #expect(errors.count == 3)
        #expect(errors[0].contains("malformed envelope"))
        #expect(errors[1].contains(": is required"), "a missing field is named: \(errors[1])")
        #expect(errors[2].contains("version"), "\(errors[2])")
        #expect(dead.allSatisfy { $0.headers["x-attempts"] == .int(1) })
        #expect(String(decoding: dead[0].body, as: UTF8.self) == "not json at all", "the body is kept as it came")
        await f.stop()
    }

    @Test func whatAFailedDeliveryEmittedIsRolledBackWithItAndTheOthersEmitsAreWritten() async throws {
        struct Refused: Error {}
        let f = try await ConsumerFixture { envelope, context in
            try context.emit(Envelope(topic: "order.noted", producerId: "test", correlationId: envelope.correlationId, payload: .object([:])))
            try context.emit(Envelope(topic: "order.noted-again", producerId: "test", correlationId: envelope.correlationId, payload: .object([:])))
            if envelope.correlationId.hasSuffix("7") { throw PermanentError(Refused()) }
            try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, envelope.topic])
        }
        let envelopes = (0..<30).map { orderEnvelope(n: $0) }      // correlation ids req-0 ... req-29: req-7, -17, -27 fail
        try await f.publish(envelopes)
        try await eventually("27 handled, 3 dead") { f.consumer.stats.handled == 27 && f.consumer.stats.deadLettered == 3 }
        let emitted = try await f.pool.withConnection { db in
            try db.query("SELECT envelope FROM troupe_outbox").rows.map { try Envelope.decode(Array(try $0.decode("envelope", as: String.self).utf8)) }
        }
        #expect(emitted.count == 54, "two per handled delivery, none for a failed one")
        #expect(Set(emitted.map(\.correlationId)) == Set(envelopes.map(\.correlationId).filter { !$0.hasSuffix("7") }))
        await f.stop()
    }

    /// Rows gathered for one statement at the end go in with their delivery or not at all, as emitted
    /// envelopes do; a memo is made once per transaction and sees the whole batch.
    @Test func gatheredRowsAreWrittenOnceABatchAndRolledBackWithTheirDelivery() async throws {
        struct Refused: Error {}
        let writes = Mutex<[Int]>([]), lookups = Mutex<[Int]>([])
        // every other one of req-100 ... req-119: any batch of three or more has a second failure, which the
        // savepoint pass runs (the first is left out of it), so its rows are gathered and then discarded
        @Sendable func failing(_ e: Envelope) -> Bool { (Int(e.correlationId.dropFirst(4)) ?? 0) >= 100 && (Int(e.correlationId.dropFirst(4)) ?? 0) % 2 == 1 }
        let f = try await ConsumerFixture { envelope, context in
            let batchSize = try context.memo("batch") { () -> Int in lookups.withLock { $0.append(context.batch.count) }; return context.batch.count }
            #expect(context.batch.contains { $0.id == envelope.id } && batchSize == context.batch.count)
            let effects: Gathered<UUID> = context.gather("effects") { ids, db in
                writes.withLock { $0.append(ids.count) }
                try db.query("INSERT INTO effects (envelope_id, topic) SELECT unnest($1::uuid[]), 'gathered'", [PostgresArray(ids) { $0 }])
            }
            try effects.append(envelope.id)
            if failing(envelope) { throw PermanentError(Refused()) }
        }
        // without failures: the batch's rows in one statement, its lookup made once
        let clean = (0..<40).map { orderEnvelope(n: $0) }
        try await f.publish(clean)
        try await eventually("40 handled") { f.consumer.stats.handled == 40 }
        #expect(writes.withLock { $0.reduce(0, +) } == 40)
        #expect(writes.withLock { $0.count } < 40, "rows gathered, not written one by one: \(writes.withLock { $0 })")
        #expect(lookups.withLock { $0.reduce(0, +) } == 40 && lookups.withLock { $0.count } == writes.withLock { $0.count }, "one memo per transaction")
        // with failures: each delivery's rows go in with it (one savepoint each), the failed ones' not at all
        let mixed = (100..<120).map { orderEnvelope(n: $0) }
        try await f.publish(mixed)
        try await eventually("50 handled, 10 dead") { f.consumer.stats.handled == 50 && f.consumer.stats.deadLettered == 10 }
        let written = try await f.pool.withConnection { db in
            try db.query("SELECT envelope_id FROM effects WHERE topic = 'gathered'").rows.map { try $0.decode("envelope_id", as: UUID.self) }
        }
        #expect(written.count == 50)
        let expected = Set((clean + mixed).filter { !failing($0) }.map(\.id))
        #expect(Set(written).symmetricDifference(expected).isEmpty)
        await f.stop()
    }

    /// A handler that catches a failed statement's error aborts the batch's transaction: its COMMIT would
    /// roll everything back in silence and the batch be acked. The batch fails instead, is run again one
    /// savepoint per delivery, and only the delivery at fault is retried, then dead-lettered.
    @Test func aHandlerThatSwallowsAFailedStatementFailsAloneAndTheBatchIsNotLost() async throws {
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(50)]) { envelope, context in
            try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, envelope.topic])
            if envelope.correlationId == "req-4" { _ = try? context.db.query("SELECT 1 / 0") }
        }
        let envelopes = (0..<10).map { orderEnvelope(n: $0) }
        try await f.publish(envelopes)
        try await eventually("nine handled and the swallowing one dead") { f.consumer.stats.handled == 9 && f.consumer.stats.deadLettered == 1 }
        #expect(try await f.effectCount() == 9)
        #expect(try await f.effectCount(envelopes[4].id) == 0)
        #expect(try f.deadLetters().first?.messageID == envelopes[4].id.lowercasedString)
        await f.stop()
    }

    /// Issue 16 §5: a failure outside the handler (here the outbox write of what one delivery emitted, refused
    /// by a trigger) takes the per-delivery fallback like a handler's failure: that delivery is retried, then
    /// dead-lettered; the rest of its batch commits; nothing goes back to the queue for ever.
    @Test func anOutboxWriteThatFailsFailsItsDeliveryAloneAndNeverLoops() async throws {
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(50)]) { envelope, context in
            try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, envelope.topic])
            let topic = envelope.correlationId == "req-4" ? "order.refused-by-trigger" : "order.noted"
            try context.emit(Envelope(topic: topic, producerId: "test", correlationId: envelope.correlationId, payload: .object([:])))
        }
        try await f.pool.withConnection { db in
            try db.execute(script: """
                CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.topic = 'order.refused-by-trigger' THEN RAISE EXCEPTION 'outbox write refused'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER refuse_outbox BEFORE INSERT ON troupe_outbox FOR EACH ROW EXECUTE FUNCTION refuse_outbox();
                """)
        }
        let envelopes = (0..<10).map { orderEnvelope(n: $0) }
        try await f.publish(envelopes)
        try await eventually("nine handled and the refused one dead") { f.consumer.stats.handled == 9 && f.consumer.stats.deadLettered == 1 }
        #expect(try await f.effectCount() == 9)
        #expect(try await f.effectCount(envelopes[4].id) == 0)
        let dead = try #require(try f.deadLetters().first)
        #expect(dead.messageID == envelopes[4].id.lowercasedString)
        #expect(dead.headers["x-error"]?.stringValue?.contains("outbox write refused") == true, "\(String(describing: dead.headers["x-error"]))")
        await f.stop()
    }

    @Test func aTransientFailureIsRetriedWithBackoffThenDeadLetteredWithItsAttempts() async throws {
        struct Flaky: Error {}
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(100), .milliseconds(300)]) { envelope, context in
            try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, "attempt"])
            if envelope.topic == "order.failing" { throw TransientError(Flaky()) }
        }
        let failing = orderEnvelope("order.failing")
        try await f.publish([failing])
        try await eventually("the dead letter") { f.consumer.stats.deadLettered == 1 }
        #expect(f.consumer.stats.retried == 2)
        // Each attempt's effects were rolled back with its savepoint: nothing of the failing envelope stayed.
        #expect(try await f.effectCount(failing.id) == 0)
        let dead = try #require(try f.deadLetters().first)
        #expect(dead.headers["x-attempts"] == .int(3))
        #expect(dead.headers["x-error"]?.stringValue?.contains("retries exhausted") == true)
        #expect(dead.messageID == failing.id.uuidString.lowercased())
        #expect(dead.type == "order.failing")
        await f.stop()
    }

    @Test func retriesWaitTheirBackoffAndAPermanentErrorIsDeadAtOnce() async throws {
        struct Flaky: Error {}
        struct Invalid: Error {}
        let attempts = AttemptLog()
        let f = try await ConsumerFixture(retryDelays: [.milliseconds(150), .milliseconds(300)]) { envelope, _ in
            switch envelope.topic {
            case "order.flaky":
                if attempts.record(envelope.id) < 3 { throw TransientError(Flaky()) }
            case "order.invalid":
                attempts.record(envelope.id)
                throw PermanentError(Invalid())
            default: break
            }
        }
        let flaky = orderEnvelope("order.flaky"), invalid = orderEnvelope("order.invalid")
        try await f.publish([flaky, invalid])
        try await eventually("the flaky envelope handled on its third attempt") { f.consumer.stats.handled == 1 }
        let times = attempts.times(flaky.id)
        #expect(times.count == 3)
        #expect(times[1] - times[0] >= .milliseconds(150), "first retry waited its delay")
        #expect(times[2] - times[1] >= .milliseconds(300), "second retry waited longer")
        #expect(attempts.times(invalid.id).count == 1, "a permanent error is not retried")
        try await eventually("the invalid one dead-lettered") { f.consumer.stats.deadLettered == 1 }
        #expect(try f.deadLetters().first?.headers["x-error"]?.stringValue?.contains("permanent failure") == true)
        await f.stop()
    }
}

/// When each envelope's handler ran.
final class AttemptLog: Sendable {
    private let log = Mutex<[UUID: [ContinuousClock.Instant]]>([:])
    @discardableResult
    func record(_ id: UUID) -> Int { log.withLock { $0[id, default: []].append(.now); return $0[id]!.count } }
    func times(_ id: UUID) -> [ContinuousClock.Instant] { log.withLock { $0[id] ?? [] } }
}

@Suite struct ConsumptionControlTests {
    @Test func aPausedConsumerLeavesMessagesInTheQueueAndTakesThemOnResume() async throws {
        let f = try await ConsumerFixture()
        f.consumer.pause(reason: "circuit breaker open")
        try await eventually("the consumer cancelled") { !f.consumer.consumer.isConsuming }
        let envelopes = (0..<20).map { orderEnvelope(n: $0) }
        try await f.publish(envelopes)
        try await eventually("the messages queued") { try f.broker.count(WireTopology.queue(f.broker.component)) == 20 }
        #expect(f.consumer.stats.handled == 0)
        #expect(try f.broker.count(WireTopology.deadQueue(f.broker.component)) == 0, "paused is not dead-lettered")
        f.consumer.resume()
        try await eventually("all handled after resume") { f.consumer.stats.handled == 20 }
        #expect(f.consumer.stats.pauses == 1)
        #expect(f.consumer.stats.resumes == 1)
        await f.stop()
    }

    @Test func oldInboxRowsArePrunedAndRecentOnesKept() async throws {
        let f = try await ConsumerFixture()
        let component = f.broker.component
        try await f.pool.withConnection { db in
            try db.query("INSERT INTO troupe_inbox (component, envelope_id, handled_at) VALUES ($1, $2, now() - interval '8 days')", [component, UUID()])
            try db.query("INSERT INTO troupe_inbox (component, envelope_id, handled_at) VALUES ($1, $2, now() - interval '6 days')", [component, UUID()])
            try db.query("INSERT INTO troupe_inbox (component, envelope_id, handled_at) VALUES ($1, $2, now() - interval '9 days')", ["other", UUID()])
        }
        try await f.consumer.pruneInbox()          // run() prunes hourly too, so count what is left
        let left = try await f.pool.withConnection { try $0.query("SELECT count(*) AS n FROM troupe_inbox").rows[0].decode("n", as: Int.self) }
        #expect(left == 2, "the recent row and the other component's row stay")
        await f.stop()
    }

    /// The prepare step runs outside the transaction, hands its result to the handler with the attempt,
    /// is retried like a handler when it fails transiently, and is skipped for a duplicate.
    @Test func thePrepareStepFeedsTheHandlerIsRetriedAndSkippedForDuplicates() async throws {
        let calls = Mutex<[UUID: Int]>([:])
        let f = try await ConsumerFixture(handler: { envelope, context in
            guard case .number(let call)? = context.prepared?["call"], case .number(let attempt)? = context.prepared?["attempt"] else {
                throw TestKitError("no prepared value")
            }
            #expect(Int(attempt) == context.attempt)
            try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, "\(envelope.topic)#\(Int(call))"])
        }, prepare: { envelope, attempt in
            let n = calls.withLock { c -> Int in c[envelope.id, default: 0] += 1; return c[envelope.id]! }
            if envelope.payload["flaky"] == .bool(true), n == 1 { throw TransientError(TestKitError("vendor timed out")) }
            return .object(["call": .number(Double(n)), "attempt": .number(Double(attempt))])
        })
        let steady = orderEnvelope(n: 1)
        let flaky = Envelope(topic: "order.created", producerId: "test", correlationId: "req-2", payload: .object(["flaky": .bool(true)]))
        try await f.publish([steady, flaky])
        try await eventually("both handled") { f.consumer.stats.handled == 2 }
        let topics = try await f.pool.withConnection { db in
            try db.query("SELECT envelope_id, topic FROM effects").rows.reduce(into: [UUID: String]()) { $0[try $1.decode("envelope_id")] = try $1.decode("topic") }
        }
        #expect(topics[steady.id] == "order.created#1")
        #expect(topics[flaky.id] == "order.created#2", "the second call, on the retry")
        #expect(f.consumer.stats.retried == 1)

        try await f.publish([steady])                                         // a duplicate
        try await eventually("the duplicate acked") { f.consumer.stats.duplicates == 1 }
        #expect(calls.withLock { $0[steady.id] } == 1, "no outside call for a duplicate")
        await f.stop()
    }
}

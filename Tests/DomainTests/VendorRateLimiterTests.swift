import ActorRuntime
@testable import Bridges
@testable import Domain
import Foundation
import Synchronization
import Testing

/// Issue 19 §1: the vendor's limits shared in PostgreSQL, and detached recurring jobs (a private schema).
@Suite struct VendorRateLimiterTests {
    @Test func nodesAcquiringAtOnceGetNoMoreCallsThanTheLimitAndA429GivesOneBackPerWindow() async throws {
        let db = try await DomainDatabase()
        let limiter = VendorRateLimiter(name: "test_catalog", calls: 2, window: .seconds(3600))
        // Eight "nodes" at once: two calls.
        let decisions = await withTaskGroup(of: VendorRateLimiter.Decision?.self) { group in
            for _ in 0..<8 { group.addTask { try? await db.pool.transaction { c in try limiter.acquire(on: c) } } }
            return await group.reduce(into: [VendorRateLimiter.Decision?]()) { $0.append($1) }
        }
        let calls = decisions.compactMap { d -> Int64? in if case .go(let call)? = d { call } else { nil } }
        #expect(calls.count == 2 && decisions.count == 8, "\(decisions)")
        // The vendor refused the second with a wait: the call is given back, and no one calls during the wait.
        try await db.pool.transaction { c in try limiter.refund(calls[1], retryAfter: .seconds(120), on: c) }
        guard case .wait(let until)? = try await db.pool.transaction({ c in try limiter.acquire(on: c) }) else {
            Issue.record("called during the vendor's wait"); await db.drop(); return
        }
        #expect(until.timeIntervalSinceNow > 110 && until.timeIntervalSinceNow <= 120)
        try await db.pool.withConnection { c in
            try c.query("UPDATE vendor_rate_limits SET retry_after_until = now() - interval '1 second' WHERE name = 'test_catalog'")
        }
        guard case .go(let retry)? = try await db.pool.transaction({ c in try limiter.acquire(on: c) }) else {
            Issue.record("the retry found no budget: the refused call was not given back"); await db.drop(); return
        }
        // A second 429 within the window keeps its call counted: a vendor that keeps refusing cannot be called without end.
        try await db.pool.transaction { c in try limiter.refund(retry, retryAfter: .seconds(1), on: c) }
        try await db.pool.withConnection { c in
            try c.query("UPDATE vendor_rate_limits SET retry_after_until = NULL WHERE name = 'test_catalog'")
        }
        if case .go? = try await db.pool.transaction({ c in try limiter.acquire(on: c) }) { Issue.record("a third call within the hour") }
        await db.drop()
    }

    @Test func aDetachedJobRunsOnOneNodeAtATimeAndOnlyItsOwnRunEndsTheClaim() async throws {
        let db = try await DomainDatabase()
        let release = Mutex<CheckedContinuation<Void, Never>?>(nil), runs = Mutex(0)
        let job = RecurringJob(name: "test-detached-\(UUID())", period: .seconds(3600), work: .detached { _ in
            runs.withLock { $0 += 1 }
            await withCheckedContinuation { c in release.withLock { $0 = c } }
            return JobResult(rows: 1, summary: "done")
        })
        let first = Task { try await job.tick(db.pool, node: "a") }
        while release.withLock({ $0 == nil }) { try await Task.sleep(for: .milliseconds(10)) }
        // While it runs, asked for again: no other node claims it.
        try await db.pool.withConnection { c in _ = try ScheduleBook.request(job.name, on: c) }
        #expect(try await job.tick(db.pool, node: "b") == nil, "claimed while running elsewhere")
        let entry = try await db.pool.withConnection { c in try ScheduleBook.entries([(job.name, job.period)], on: c)[0] }
        #expect(entry.runningSince != nil && entry.node == "a")
        release.withLock { $0?.resume(); $0 = nil }
        #expect(try await first.value == 1)
        let done = try await db.pool.withConnection { c in try ScheduleBook.entries([(job.name, job.period)], on: c)[0] }
        #expect(done.runningSince == nil && done.outcome == "done" && done.failures == 0)
        #expect(done.requestedAt != nil, "the request made during the run is kept for the next tick")
        #expect(runs.withLock { $0 } == 1)
        await db.drop()
    }

    /// A run that asks to run again at a time (a vendor's wait of 120 s) is not claimed before it, even when
    /// the period is long (a 5 % slack of 1 h, 180 s, had the job claimed at every tick during the wait).
    @Test func aRetryTimeIsNotRunBeforeItIsDue() async throws {
        let db = try await DomainDatabase()
        let runs = Mutex(0)
        let job = RecurringJob(name: "test-retry-\(UUID())", period: .seconds(3600), work: .detached { _ in
            runs.withLock { $0 += 1 }
            return JobResult(rows: 0, summary: "told to wait", retryAt: Date().addingTimeInterval(120))
        })
        #expect(try await job.tick(db.pool, node: "a") == 0)
        #expect(try await job.tick(db.pool, node: "a") == nil, "claimed during the wait")
        try await db.pool.withConnection { c in
            try c.query("UPDATE schedule_runs SET next_run_at = next_run_at - interval '121 seconds' WHERE job = $1", [job.name])
        }
        #expect(try await job.tick(db.pool, node: "a") == 0, "due once the wait is over")
        #expect(runs.withLock { $0 } == 2)
        await db.drop()
    }
}

import DequeModule

/// Where an ``OutboxRelay``'s next batch starts looking in `troupe_outbox`. Finding the oldest rows by
/// walking the primary key from its start also walks past every row deleted since PostgreSQL last
/// cleaned up, and a long transaction anywhere in the database (an `ANALYZE` of a large table, a report)
/// holds that cleanup back: measured here, batches took 205 ms instead of 3. So a batch starts after the
/// highest `seq` this relay published at least ``settle`` ago, below which a row can only still appear if
/// the transaction that wrote it ran longer than that; every ``fullScanEvery``, and when draining, a batch
/// starts from the beginning, to take such a row after all.
struct OutboxCursor {
    static let settle: Duration = .seconds(5)
    static let fullScanEvery: Duration = .seconds(10)

    private var recent: Deque<(at: ContinuousClock.Instant, seq: Int64)> = []
    private var floor: Int64 = 0
    private var lastFullScan: ContinuousClock.Instant?

    /// The `seq` the next batch starts after (0: the whole table).
    mutating func start(at now: ContinuousClock.Instant) -> Int64 {
        if let last = lastFullScan, now - last < Self.fullScanEvery {
            while let first = recent.first, now - first.at >= Self.settle {
                floor = max(floor, first.seq)
                recent.removeFirst()
            }
            return floor
        }
        lastFullScan = now
        return 0
    }

    /// Records that a batch whose highest `seq` was `seq` was published at `now`.
    mutating func published(upTo seq: Int64, at now: ContinuousClock.Instant) {
        recent.append((now, seq))
    }
}

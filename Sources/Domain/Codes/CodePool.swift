import ActorRuntime
import Bridges
import Foundation

/// Inventory's code pools (the reference's code-service): promotional codes per campaign and type, uploaded in
/// batches, reserved N at a time under a reserve id, assigned (terminal) or released. A code's state follows from
/// its dates (see migration 0115): a reservation older than ``reservationLifetime`` counts as available again with
/// no job to expire it. Each change is committed with its domain event (`codes.*`, producer `inventory`).
public enum CodePool {
    /// A pool's kind of code, the reference's two.
    public enum CodeType: String, Sendable, CaseIterable {
        case tm, external
    }

    /// A code's state, as the reference's status queries define it.
    public enum Status: String, Sendable, CaseIterable {
        case available, reserved, assigned
    }

    /// What an upload did: codes read (`in`), new ones, and ones already in the pool (their state is kept).
    public struct UploadCount: Sendable, Equatable {
        public var read = 0, inserted = 0, updated = 0
        public init(read: Int = 0, inserted: Int = 0, updated: Int = 0) {
            self.read = read
            self.inserted = inserted
            self.updated = updated
        }
        public static func + (a: UploadCount, b: UploadCount) -> UploadCount {
            UploadCount(read: a.read + b.read, inserted: a.inserted + b.inserted, updated: a.updated + b.updated)
        }
    }

    /// Codes reserved together, under one id.
    public struct Reservation: Sendable, Equatable {
        public let reserveId: UUID
        public let codes: [String]
    }

    /// How long a reservation holds a code (the reference's "reserved date > yesterday").
    public static let reservationLifetime = "24 hours"
    /// The most codes one reserve call takes.
    public static let maxReserve = 1_000
    /// Codes upserted per statement and transaction (the reference's batch).
    public static let uploadBatch = 50_000
    /// New codes from which an upload refreshes the table's statistics (`ANALYZE`) when it ends: below it, the worst
    /// plan reads that many rows.
    public static let analyzeAfter = 10_000
    /// The longest code kept; a longer one is a bad row.
    public static let maxCodeLength = 255

    /// Whether `code` can be stored: not empty, at most ``maxCodeLength`` bytes, no NUL (PostgreSQL's text has none).
    public static func isValid(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= maxCodeLength && !code.utf8.contains(0)
    }

    /// Upserts one batch of valid codes in the caller's transaction: new codes are inserted available; a code the
    /// pool has (or one repeated in the batch) counts as updated and is left as it is, its type, state and
    /// `saved_at` (the first upload's time) kept. Existing rows are not even locked, so a re-upload never makes
    /// reservers skip them. Codes are written in sorted order, so two uploads of overlapping files wait for each
    /// other instead of deadlocking.
    public static func upsert(campaign: String, type: CodeType, codes: [String], on db: PostgresConnection) throws -> UploadCount {
        guard !codes.isEmpty else { return UploadCount() }
        let inserted: Int = try db.query("""
            WITH up AS (INSERT INTO code_pool (campaign_id, code, type)
                        SELECT $1, code, $2 FROM (SELECT DISTINCT code FROM unnest($3::text[]) AS code) c ORDER BY code
                        ON CONFLICT (campaign_id, code) DO NOTHING
                        RETURNING 1),
                 deltas AS (SELECT $2::text AS type, 'all'::text AS kind, '-infinity'::timestamptz AS bucket, 1::bigint AS d
                            FROM up),
                 counted AS (\(countsUpsert))
            SELECT count(*)::int AS n FROM deltas
            """, [campaign, type.rawValue, PostgresArray(codes)]).rows[0].decode("n")
        return UploadCount(read: codes.count, inserted: inserted, updated: codes.count - inserted)
    }

    /// Emits `codes.uploaded` with the counts of one batch of upload `uploadId` (in the batch's transaction, so every
    /// stored batch has its event and no other does); `badRows`: the rows skipped since the batch before.
    public static func uploaded(campaign: String, type: CodeType, uploadId: UUID, batch: Int, count: UploadCount, badRows: Int,
                                on db: PostgresConnection) throws {
        try emit(DomainTopic.codesUploaded, campaign: campaign, [
            "type": .string(type.rawValue), "uploadId": .string(uploadId.lowercasedString), "batch": .number(Double(batch)),
            "in": .number(Double(count.read)), "inserted": .number(Double(count.inserted)),
            "updated": .number(Double(count.updated)), "badRows": .number(Double(badRows)),
        ], on: db)
    }

    /// A reserve call asked for fewer than 1 or more than ``maxReserve`` codes.
    public struct InvalidCount: Error, CustomStringConvertible {
        public let count: Int
        public var description: String { "count: must be from 1 to \(CodePool.maxReserve), not \(count)" }
    }

    /// Reserves up to `count` available codes of the campaign's pool under a new reserve id (fewer when the pool
    /// runs short), in a transaction of its own. Rows another reserver holds are skipped, and one whose
    /// reservation committed meanwhile no longer matches, so no code is reserved twice however many reserve at
    /// once. Never-reserved codes come first, then expired reservations, each an index range (a pool running
    /// short does not walk its live reservations).
    public static func reserve(campaign: String, type: CodeType, count: Int, on db: PostgresConnection) throws -> Reservation {
        guard (1...maxReserve).contains(count) else { throw InvalidCount(count: count) }
        let id = UUID.v7()
        let codes: [String] = try db.transaction { db in
            let codes = try db.query(reserveStatement, [campaign, type.rawValue, count, id, reservationLifetime], planEachTime: true).rows.map {
                try $0.decode("code", as: String.self)
            }
            if !codes.isEmpty {
                try emit(DomainTopic.codesReserved, campaign: campaign, [
                    "type": .string(type.rawValue), "reserveId": .string(id.lowercasedString), "count": .number(Double(codes.count)),
                ], on: db)
            }
            return codes
        }
        return Reservation(reserveId: id, codes: codes.sorted())
    }

    /// Reserves up to $3 available codes of campaign $1's pool of type $2 under reserve id $4 ($5: the
    /// reservation's lifetime), counting them; returns the codes. Public for the benchmark's pgbench ceiling.
    /// `fresh`'s ORDER BY (every row it reads has a NULL reserved_at) is for the planner: without it a pool that
    /// is all one campaign's was read by a sequential scan, which walks every reservation made before it finds a
    /// fresh code (reserve fell to 1,220/s on a 1 M pool); the index's range holds only never-reserved codes. Planned
    /// at each run: a generic plan, blind to the LIMIT, hashes the whole pool to join 10 rows (0.86 s a run). The
    /// update finds its rows by `code = ANY (ARRAY(...))`, an index lookup whatever the statistics say: as a join
    /// it walked the whole campaign (3 s a run) while a fresh upload's campaign was estimated at one row.
    public static let reserveStatement = """
        WITH fresh AS (SELECT code, NULL::timestamptz AS old FROM code_pool
                       WHERE campaign_id = $1 AND type = $2 AND assigned_at IS NULL AND reserved_at IS NULL
                       ORDER BY reserved_at NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED),
             expired AS (SELECT code, reserved_at AS old FROM code_pool
                         WHERE campaign_id = $1 AND type = $2 AND assigned_at IS NULL AND reserved_at <= now() - $5::interval
                         ORDER BY reserved_at LIMIT $3 - (SELECT count(*) FROM fresh) FOR UPDATE SKIP LOCKED),
             picked AS (SELECT code, old FROM fresh UNION ALL SELECT code, old FROM expired),
             reserved AS (UPDATE code_pool c SET reserved_at = now(), reserve_id = $4
                          WHERE c.campaign_id = $1 AND c.code = ANY (ARRAY(SELECT code FROM picked))
                          RETURNING c.code),
             deltas AS (SELECT $2::text AS type, 'reserved'::text AS kind, date_trunc('hour', now(), 'UTC') AS bucket, 1::bigint AS d
                        FROM reserved
                        UNION ALL
                        SELECT $2, 'reserved', date_trunc('hour', old, 'UTC'), -1 FROM picked JOIN reserved USING (code) WHERE old IS NOT NULL),
             counted AS (\(countsUpsert))
        SELECT code FROM reserved
        """

    /// Assigns the campaign's `codes` that are not assigned yet (terminal: an assigned code is never touched
    /// again), in a transaction of its own; with a `reserveId`, only those it holds (reserved under it within 24
    /// hours): a caller whose reservation expired and went to another cannot take that one's codes.
    /// - Returns: how many changed.
    public static func assign(campaign: String, codes: [String], reserveId: UUID? = nil, on db: PostgresConnection) throws -> Int {
        try change(DomainTopic.codesAssigned, campaign: campaign, codes: codes, on: db) { db in
            try db.query(assignStatement, [campaign, PostgresArray(codes), reserveId, reservationLifetime]).rows[0].decode("n")
        }
    }

    /// Releases the campaign's `codes` that are reserved and not assigned (an available or assigned code is left
    /// as it is), in a transaction of its own; with a `reserveId`, only those reserved under it. - Returns: how many
    /// changed.
    public static func release(campaign: String, codes: [String], reserveId: UUID? = nil, on db: PostgresConnection) throws -> Int {
        try change(DomainTopic.codesReleased, campaign: campaign, codes: codes, on: db) { db in
            try db.query(releaseStatement, [campaign, PostgresArray(codes), reservationLifetime, reserveId]).rows[0].decode("n")
        }
    }

    /// Assigns campaign $1's codes $2 that are not assigned (and, when $3 is a reserve id, reserved under it within
    /// $4), counting them; returns how many (`n`). The rows are locked in code order (as uploads lock them) and
    /// updated by `code = ANY (ARRAY(...))`, an index lookup whatever the statistics say.
    static let assignStatement = """
        WITH target AS (SELECT code, type, reserved_at FROM code_pool
                        WHERE campaign_id = $1 AND code = ANY ($2::text[]) AND assigned_at IS NULL
                          AND ($3::uuid IS NULL OR (reserve_id = $3::uuid AND reserved_at > now() - $4::interval))
                        ORDER BY code FOR UPDATE),
             updated AS (UPDATE code_pool c SET assigned_at = now()
                         WHERE c.campaign_id = $1 AND c.code = ANY (ARRAY(SELECT code FROM target)) AND c.assigned_at IS NULL
                         RETURNING c.code),
             changed AS (SELECT target.* FROM target JOIN updated USING (code)),
             deltas AS (SELECT type, 'assigned'::text AS kind, '-infinity'::timestamptz AS bucket, 1::bigint AS d FROM changed
                        UNION ALL
                        SELECT type, 'reserved', date_trunc('hour', reserved_at, 'UTC'), -1 FROM changed WHERE reserved_at IS NOT NULL),
             counted AS (\(countsUpsert))
        SELECT count(*)::int AS n FROM changed
        """

    /// Releases campaign $1's codes $2 reserved within $3 (under reserve id $4 when it is not null) and not
    /// assigned, counting them; returns how many (`n`). Locked and found as ``assignStatement`` does.
    static let releaseStatement = """
        WITH target AS (SELECT code, type, reserved_at FROM code_pool
                        WHERE campaign_id = $1 AND code = ANY ($2::text[]) AND assigned_at IS NULL
                          AND reserved_at > now() - $3::interval AND ($4::uuid IS NULL OR reserve_id = $4::uuid)
                        ORDER BY code FOR UPDATE),
             updated AS (UPDATE code_pool c SET reserved_at = NULL, reserve_id = NULL
                         WHERE c.campaign_id = $1 AND c.code = ANY (ARRAY(SELECT code FROM target)) AND c.assigned_at IS NULL
                           AND c.reserved_at > now() - $3::interval
                         RETURNING c.code),
             changed AS (SELECT target.* FROM target JOIN updated USING (code)),
             deltas AS (SELECT type, 'reserved'::text AS kind, date_trunc('hour', reserved_at, 'UTC') AS bucket, -1::bigint AS d
                        FROM changed),
             counted AS (\(countsUpsert))
        SELECT count(*)::int AS n FROM changed
        """

    /// The campaign's codes of `type` in each state, from the counters of migration 0116: a few hundred rows
    /// and one hour of the reservations index, however large the pool.
    public static func count(campaign: String, type: CodeType, on db: PostgresConnection) throws -> [Status: Int] {
        let row = try db.query("""
            WITH edge AS (SELECT now() - $3::interval AS since, date_trunc('hour', now() - $3::interval, 'UTC') AS hour),
                 counters AS (SELECT (SELECT coalesce(sum(n), 0) FROM code_pool_counts
                                      WHERE campaign_id = $1 AND type = $2 AND kind = 'all')::int8 AS total,
                                     (SELECT coalesce(sum(n), 0) FROM code_pool_counts
                                      WHERE campaign_id = $1 AND type = $2 AND kind = 'assigned')::int8 AS assigned,
                                     (SELECT coalesce(sum(n), 0) FROM code_pool_counts, edge     -- past buckets: not read
                                      WHERE campaign_id = $1 AND type = $2 AND kind = 'reserved' AND bucket > edge.hour)::int8 AS reserved),
                 boundary AS (SELECT count(*)::int8 AS reserved FROM code_pool, edge
                              WHERE campaign_id = $1 AND type = $2 AND assigned_at IS NULL
                                AND reserved_at > edge.since AND reserved_at < edge.hour + interval '1 hour')
            SELECT total, assigned, counters.reserved + boundary.reserved AS reserved FROM counters, boundary
            """, [campaign, type.rawValue, reservationLifetime]).rows[0]
        let total: Int = try row.decode("total"), assigned: Int = try row.decode("assigned"), reserved: Int = try row.decode("reserved")
        return [.available: total - assigned - reserved, .reserved: reserved, .assigned: assigned]
    }

    /// The same counts by reading every code of the pool (the reference's queries): what the counters must agree
    /// with, for the tests and the benchmark.
    public static func countByScan(campaign: String, type: CodeType, on db: PostgresConnection) throws -> [Status: Int] {
        let row = try db.query("""
            SELECT count(*) FILTER (WHERE assigned_at IS NOT NULL)::int AS assigned,
                   count(*) FILTER (WHERE assigned_at IS NULL AND reserved_at > now() - $3::interval)::int AS reserved,
                   count(*) FILTER (WHERE assigned_at IS NULL AND (reserved_at IS NULL OR reserved_at <= now() - $3::interval))::int AS available
            FROM code_pool WHERE campaign_id = $1 AND type = $2
            """, [campaign, type.rawValue, reservationLifetime]).rows[0]
        return [.available: try row.decode("available"), .reserved: try row.decode("reserved"), .assigned: try row.decode("assigned")]
    }

    /// Adds the `deltas` CTE's rows (type, kind, bucket, d) to this backend's shard of the counters, in key order
    /// (two transactions sharing a shard lock its rows in the same order).
    private static let countsUpsert = """
        INSERT INTO code_pool_counts (campaign_id, type, kind, bucket, shard, n)
        SELECT $1, type, kind, bucket, pg_backend_pid() % 16, sum(d) FROM deltas
        GROUP BY type, kind, bucket HAVING sum(d) <> 0 ORDER BY type, kind, bucket
        ON CONFLICT (campaign_id, type, kind, bucket, shard) DO UPDATE SET n = code_pool_counts.n + excluded.n
        """

    /// Runs `update` (returning the rows it changed; it locks them in code order, as uploads do, so the two wait
    /// for each other instead of deadlocking) and emits `topic` with the counts when anything changed, in one
    /// transaction.
    private static func change(_ topic: String, campaign: String, codes: [String], on db: PostgresConnection,
                               _ update: (PostgresConnection) throws -> Int) throws -> Int {
        guard !codes.isEmpty else { return 0 }
        return try db.transaction { db in
            let updated = try update(db)
            if updated > 0 {
                try emit(topic, campaign: campaign, ["in": .number(Double(codes.count)), "updated": .number(Double(updated))], on: db)
            }
            return updated
        }
    }

    private static func emit(_ topic: String, campaign: String, _ fields: [String: JSONValue], on db: PostgresConnection) throws {
        var payload = fields
        payload["campaignId"] = .string(campaign)
        try TransactionalOutbox.emit(Envelope(topic: topic, producerId: Component.inventory.rawValue, correlationId: "codes-\(campaign)",
                                              payload: .object(payload)), on: db)
    }
}

import ActorRuntime
@testable import Bridges
@testable import Domain
import Foundation
import Testing

/// Issue 20: Inventory's code pools against PostgreSQL (a private schema each).
@Suite struct CodePoolTests {
    typealias Pool = CodePool

    func upload(_ codes: [String], campaign: String = "c1", type: Pool.CodeType = .tm, _ db: DomainDatabase) async throws -> Pool.UploadCount {
        try await db.pool.transaction { c in try Pool.upsert(campaign: campaign, type: type, codes: codes, on: c) }
    }

    /// The pool's counts from its counters, checked against a count of every code (the reference's rules, one row
    /// at a time) and the counters' rows against the rows they count (migration 0116's invariant).
    func counts(campaign: String = "c1", type: Pool.CodeType = .tm, _ db: DomainDatabase,
                sourceLocation: SourceLocation = #_sourceLocation) async throws -> [Pool.Status: Int] {
        let counted = try await db.pool.withConnection { c in try Pool.count(campaign: campaign, type: type, on: c) }
        #expect(try await counted == bruteForce(campaign: campaign, type: type, db), "the counters against every code", sourceLocation: sourceLocation)
        let drift: [String] = try await db.pool.withConnection { c in
            try c.query("""
                WITH kept AS (SELECT kind, bucket, sum(n) AS n FROM code_pool_counts WHERE campaign_id = $1 AND type = $2
                              GROUP BY kind, bucket HAVING sum(n) <> 0),
                     truth AS (SELECT 'all' AS kind, '-infinity'::timestamptz AS bucket, count(*) AS n FROM code_pool
                               WHERE campaign_id = $1 AND type = $2
                               UNION ALL SELECT 'assigned', '-infinity', count(*) FROM code_pool
                               WHERE campaign_id = $1 AND type = $2 AND assigned_at IS NOT NULL
                               UNION ALL SELECT 'reserved', date_trunc('hour', reserved_at, 'UTC'), count(*) FROM code_pool
                               WHERE campaign_id = $1 AND type = $2 AND assigned_at IS NULL AND reserved_at IS NOT NULL
                               GROUP BY date_trunc('hour', reserved_at, 'UTC'))
                SELECT coalesce(kept.kind, truth.kind) || ' ' || coalesce(kept.bucket, truth.bucket)::text || ': '
                       || coalesce(kept.n, 0) || ' counted, ' || coalesce(truth.n, 0) || ' in the pool' AS drift
                FROM kept FULL JOIN (SELECT * FROM truth WHERE n <> 0) truth ON kept.kind = truth.kind AND kept.bucket = truth.bucket
                WHERE coalesce(kept.n, 0) <> coalesce(truth.n, 0)
                """, [campaign, type.rawValue]).rows.map { try $0.decode("drift") }
        }
        #expect(drift.isEmpty, "counters that disagree with the pool: \(drift)", sourceLocation: sourceLocation)
        return counted
    }

    /// Moves the reservations of `codes` back in time to `reservedAt` (SQL), as if they had been made then: the
    /// rows, and the counters rebuilt from the rows by migration 0116's own backfill (so it is tested too). The
    /// counters are checked before, so a drift from the steps before is not hidden by the rebuild.
    func backdate(_ codes: [String], to reservedAt: String, _ db: DomainDatabase, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        _ = try await counts(db, sourceLocation: sourceLocation)
        let migration = try #require(try DomainSchema.migrations().first { $0.version == 116 })
        let backfill = String(try #require(migration.sql.range(of: "INSERT INTO code_pool_counts").map { migration.sql[$0.lowerBound...] }))
        try await db.pool.transaction { c in
            _ = try c.query("UPDATE code_pool SET reserved_at = \(reservedAt) WHERE code = ANY ($1::text[])", [PostgresArray(codes)])
            _ = try c.query("DELETE FROM code_pool_counts")
            try c.execute(script: backfill)
        }
    }

    /// Each state counted one row at a time, by the reference's rules, to check ``CodePool/count`` against.
    func bruteForce(campaign: String = "c1", type: Pool.CodeType = .tm, _ db: DomainDatabase) async throws -> [Pool.Status: Int] {
        let rows = try await db.pool.withConnection { c in
            try c.query("SELECT reserved_at > now() - interval '24 hours' AS fresh, reserved_at IS NOT NULL AS reserved, assigned_at IS NOT NULL AS assigned FROM code_pool WHERE campaign_id = $1 AND type = $2",
                        [campaign, type.rawValue]).rows.map { row -> Pool.Status in
                if try row.decode("assigned", as: Bool.self) { return .assigned }
                return try row.decode("reserved", as: Bool.self) && row.decode("fresh", as: Bool?.self) == true ? .reserved : .available
            }
        }
        return Dictionary(uniqueKeysWithValues: Pool.Status.allCases.map { status in (status, rows.filter { $0 == status }.count) })
    }

    @Test func anUploadCountsNewCodesAndOnesThePoolHadAndARepeatKeepsTheirState() async throws {
        let db = try await DomainDatabase()
        // A repeat within the file counts as updated, like a second upsert of the same code.
        #expect(try await upload(["A1", "A2", "A3", "A2"], db) == Pool.UploadCount(read: 4, inserted: 3, updated: 1))
        let reserved = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 1, on: c) }
        #expect(reserved.codes.count == 1)
        #expect(try await upload(["A1", "A2", "A3", "A4"], db) == Pool.UploadCount(read: 4, inserted: 1, updated: 3))
        #expect(try await counts(db) == [.available: 3, .reserved: 1, .assigned: 0], "a re-upload does not release a reserved code")
        // Another campaign's pool, and the other type of this one, are their own.
        #expect(try await upload(["A1"], campaign: "c2", db) == Pool.UploadCount(read: 1, inserted: 1, updated: 0))
        #expect(try await upload(["B1"], type: .external, db).inserted == 1)
        #expect(try await counts(type: .external, db) == [.available: 1, .reserved: 0, .assigned: 0])
        await db.drop()
    }

    @Test func reserveAssignAndReleaseFollowTheReferencesStates() async throws {
        let db = try await DomainDatabase()
        _ = try await upload((1...10).map { "K\($0)" }, db)
        let first = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 4, on: c) }
        let second = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 4, on: c) }
        #expect(first.codes.count == 4 && second.codes.count == 4 && Set(first.codes).isDisjoint(with: second.codes))
        #expect(first.reserveId != second.reserveId)
        let short = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 4, on: c) }
        #expect(short.codes.count == 2, "the pool ran short: two left")
        #expect(try await counts(db) == [.available: 0, .reserved: 10, .assigned: 0])

        // Assign is terminal: a second assign, a release and a reservation leave an assigned code alone.
        let assigned = Array(first.codes.prefix(2))
        #expect(try await db.pool.withConnection { c in try Pool.assign(campaign: "c1", codes: assigned + ["nope"], on: c) } == 2)
        #expect(try await db.pool.withConnection { c in try Pool.assign(campaign: "c1", codes: assigned, on: c) } == 0)
        #expect(try await db.pool.withConnection { c in try Pool.release(campaign: "c1", codes: assigned, on: c) } == 0)
        // Release: only reserved, unassigned codes; another campaign's code of the same name is not touched.
        #expect(try await db.pool.withConnection { c in try Pool.release(campaign: "c1", codes: second.codes + assigned, on: c) } == 4)
        #expect(try await db.pool.withConnection { c in try Pool.release(campaign: "c1", codes: second.codes, on: c) } == 0, "released already")
        #expect(try await counts(db) == [.available: 4, .reserved: 4, .assigned: 2])

        // A reservation older than 24 hours counts as available again (time moved in the database), can be
        // reserved again, and is no longer released.
        try await backdate(short.codes, to: "now() - interval '25 hours'", db)
        #expect(try await counts(db) == [.available: 6, .reserved: 2, .assigned: 2])
        #expect(try await db.pool.withConnection { c in try Pool.release(campaign: "c1", codes: short.codes, on: c) } == 0)
        let again = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 10, on: c) }
        #expect(Set(again.codes) == Set(second.codes + short.codes), "never-reserved and expired codes, not the assigned or reserved")
        #expect(try await counts(db) == bruteForce(db))
        await #expect(throws: CodePool.InvalidCount.self) { try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 0, on: c) } }

        // Each change was committed with its event.
        let topics: [String] = try await db.pool.withConnection { c in
            try c.query("SELECT topic FROM troupe_outbox WHERE topic LIKE 'codes.%' ORDER BY seq").rows.map { try $0.decode("topic") }
        }
        #expect(topics == ["codes.reserved", "codes.reserved", "codes.reserved", "codes.assigned", "codes.released", "codes.reserved"])
        await db.drop()
    }

    /// With its reserve id, a release or an assign touches only the codes that reservation holds: one that expired
    /// and was reserved again belongs to the new reservation.
    @Test func aReserveIdLimitsReleaseAndAssignToItsOwnCodes() async throws {
        let db = try await DomainDatabase()
        _ = try await upload(["R1", "R2"], db)
        let first = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 2, on: c) }
        try await backdate(["R1", "R2"], to: "now() - interval '25 hours'", db)
        let second = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 1, on: c) }
        let taken = try #require(second.codes.first), other = taken == "R1" ? "R2" : "R1"
        #expect(try await db.pool.withConnection { c in
            try Pool.release(campaign: "c1", codes: [taken], reserveId: first.reserveId, on: c)
        } == 0, "the first reservation expired: the code is the second's")
        #expect(try await db.pool.withConnection { c in
            try Pool.assign(campaign: "c1", codes: [taken, other], reserveId: first.reserveId, on: c)
        } == 0, "nor can it assign them: one is the second's, the other is no longer reserved")
        #expect(try await db.pool.withConnection { c in
            try Pool.assign(campaign: "c1", codes: [taken], reserveId: second.reserveId, on: c)
        } == 1)
        #expect(try await counts(db) == [.available: 1, .reserved: 0, .assigned: 1])
        await db.drop()
    }

    /// The hour that holds "24 hours ago" is counted code by code: a reservation a minute younger than a day is
    /// reserved, one a minute older is available, whatever minute of the hour this runs in.
    @Test func theHourOnTheEdgeOfTheDayIsCountedCodeByCode() async throws {
        let db = try await DomainDatabase()
        _ = try await upload(["E1", "E2", "E3", "E4", "E5"], db)
        _ = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 5, on: c) }
        try await backdate(["E1"], to: "now() - interval '24 hours' + interval '1 minute'", db)
        try await backdate(["E2"], to: "now() - interval '24 hours' - interval '1 minute'", db)
        try await backdate(["E3"], to: "now() - interval '23 hours' - interval '30 minutes'", db)
        #expect(try await counts(db) == [.available: 1, .reserved: 4, .assigned: 0])
        // Changes to backdated reservations keep the counters true: assign one, release one, reserve the expired one.
        #expect(try await db.pool.withConnection { c in try Pool.assign(campaign: "c1", codes: ["E1"], on: c) } == 1)
        #expect(try await db.pool.withConnection { c in try Pool.release(campaign: "c1", codes: ["E3", "E2"], on: c) } == 1)
        #expect(try await counts(db) == [.available: 2, .reserved: 2, .assigned: 1])
        let again = try await db.pool.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 5, on: c) }
        #expect(Set(again.codes) == ["E2", "E3"])
        #expect(try await counts(db) == [.available: 0, .reserved: 4, .assigned: 1])
        await db.drop()
    }

    /// Statistics taken before a large upload estimate its campaign at a row or so, and reserve, assign and release
    /// then read the whole campaign (40,000 rows for 10 codes of 20,000): the upload refreshes them.
    @Test func afterALargeUploadReserveAssignAndReleaseReadOnlyTheirRows() async throws {
        let db = try await DomainDatabase()
        try await db.pool.withConnection { c in
            _ = try c.query("ALTER TABLE code_pool SET (autovacuum_enabled = false)")     // the statistics stay stale
            _ = try Pool.upsert(campaign: "small", type: .tm, codes: ["S1"], on: c)
            _ = try c.query("ANALYZE code_pool")
        }
        let file = (0..<20_000).map { String(format: "B%05d\n", $0) }.joined()
        let chunks = AsyncStream<[UInt8]> { c in c.yield(Array(file.utf8)); c.finish() }
        #expect(try await CodeUpload(campaign: "big", type: .tm, pool: db.pool).run(chunks).count.inserted == 20_000)
        /// Rows of code_pool the statement read: the growth of this backend's unflushed statistics across it.
        func rowsRead(_ sql: String, _ parameters: [any PostgresEncodable]) async throws -> Int {
            try await db.pool.withConnection { c in
                try c.transaction { c in
                    func read() throws -> Int {
                        try c.query("""
                            SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int AS n FROM pg_stat_xact_user_tables
                            WHERE relid = 'code_pool'::regclass
                            """).rows[0].decode("n")
                    }
                    let before = try read()
                    _ = try c.query(sql, parameters, planEachTime: true)
                    return try read() - before
                }
            }
        }
        let reserve = try await rowsRead(Pool.reserveStatement, ["big", "tm", 10, UUID.v7(), Pool.reservationLifetime])
        #expect(reserve <= 100, "reserving 10 read \(reserve) rows")
        let some = PostgresArray((0..<10).map { String(format: "B%05d", $0) })
        let assign = try await rowsRead(Pool.assignStatement, ["big", some, UUID?.none, Pool.reservationLifetime])
        #expect(assign <= 100, "assigning 10 read \(assign) rows")
        let release = try await rowsRead(Pool.releaseStatement, ["big", some, Pool.reservationLifetime, UUID?.none])
        #expect(release <= 100, "releasing 10 read \(release) rows")
        await db.drop()
    }

    /// 64 reservers at once (over 16 connections) on a pool of 10,000: no code is handed out twice, and together
    /// they get every one.
    @Test func concurrentReserversNeverShareACodeAndTogetherGetThemAll() async throws {
        let db = try await DomainDatabase()
        let codes = (0..<10_000).map { String(format: "P%05d", $0) }
        #expect(try await upload(codes, db).inserted == 10_000)
        let wide = PostgresPool(.init(url: DomainDatabase.url, size: 16, applicationName: db.schema, schema: db.schema))
        let got = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<64 {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let r = try await wide.withConnection { c in try Pool.reserve(campaign: "c1", type: .tm, count: 10, on: c) }
                        if r.codes.isEmpty { return mine }
                        mine += r.codes
                    }
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        await wide.shutdown()
        #expect(got.count == 10_000 && Set(got).count == 10_000, "\(got.count) handed out, \(Set(got).count) distinct")
        #expect(try await counts(db) == [.available: 0, .reserved: 10_000, .assigned: 0])
        await db.drop()
    }

    /// Two uploads at once of files that overlap: each code is inserted by exactly one of them and counted as
    /// updated by the other, whichever wins each batch.
    @Test func concurrentOverlappingUploadsCountEachNewCodeOnce() async throws {
        let db = try await DomainDatabase()
        let wide = PostgresPool(.init(url: DomainDatabase.url, size: 4, applicationName: db.schema, schema: db.schema))
        let first = (0..<30_000).map { "O\($0)\n" }.joined(), second = (15_000..<45_000).map { "O\($0)\n" }.joined()
        func upload(_ file: String) async throws -> CodeUpload.Outcome {
            let chunks = AsyncStream<[UInt8]> { c in
                let bytes = Array(file.utf8)
                for start in stride(from: 0, to: bytes.count, by: 4096) { c.yield(Array(bytes[start..<min(start + 4096, bytes.count)])) }
                c.finish()
            }
            return try await CodeUpload(campaign: "c1", type: .tm, pool: wide, batchSize: 1_000).run(chunks)
        }
        async let a = upload(first)
        async let b = upload(second)
        let (one, two) = try await (a, b)
        await wide.shutdown()
        #expect(one.count.read == 30_000 && two.count.read == 30_000)
        #expect(one.count.inserted + two.count.inserted == 45_000, "\(one.count) \(two.count)")
        #expect(one.count.updated + two.count.updated == 15_000)
        #expect(try await counts(db) == [.available: 45_000, .reserved: 0, .assigned: 0])
        await db.drop()
    }

    /// A CSV read in small chunks and stored in batches of 3: the counts add up over batches, bad rows are
    /// counted, and `codes.uploaded` carries the totals.
    @Test func anUploadStreamsTheFileInBatchesAndReportsItsTotals() async throws {
        let db = try await DomainDatabase()
        _ = try await upload(["U2"], db)
        let file = Array("\u{FEFF}U1\r\nU2,x\r\n\r\n\"U3\"\r\n,bad\r\nU4\r\nU1\r\nU5\r\nU6\r\nU7".utf8)
        let chunks = AsyncStream<ArraySlice<UInt8>> { c in
            for start in stride(from: 0, to: file.count, by: 5) { c.yield(file[start..<min(start + 5, file.count)]) }
            c.finish()
        }
        let outcome = try await CodeUpload(campaign: "c1", type: .tm, pool: db.pool, batchSize: 3).run(chunks)
        #expect(outcome == CodeUpload.Outcome(count: Pool.UploadCount(read: 8, inserted: 6, updated: 2), badRows: 1))
        #expect(try await counts(db) == [.available: 7, .reserved: 0, .assigned: 0])
        // Each batch was committed with its event: together they carry the totals, under one upload id.
        let payloads: [JSONValue] = try await db.pool.withConnection { c in
            try c.query("SELECT envelope FROM troupe_outbox WHERE topic = 'codes.uploaded' ORDER BY seq").rows.map {
                try JSONValue(parsing: Array(try $0.decode("envelope", as: String.self).utf8))["payload"] ?? .null
            }
        }
        func sum(_ key: String) -> Int { payloads.reduce(0) { total, p in if case .number(let n)? = p[key] { total + Int(n) } else { total } } }
        #expect(payloads.count == 3 && sum("in") == 8 && sum("inserted") == 6 && sum("updated") == 2 && sum("badRows") == 1, "\(payloads)")
        #expect(Set(payloads.map { $0["uploadId"] }).count == 1 && Set(payloads.map { $0["batch"] }) == [.number(1), .number(2), .number(3)])
        await db.drop()
    }

    @Test func aFileKeyMustBeThisCampaignsWithAKnownType() throws {
        #expect(try CodeFileKey("codes/c1/tm/upload-1.csv", campaign: "c1").type == .tm)
        #expect(try CodeFileKey("codes/c1/external/a_b.v2.csv", campaign: "c1").type == .external)
        #expect(throws: CodeFileKey.Problem.self) { try CodeFileKey("codes/c1/gift/upload.csv", campaign: "c1") }
        do { _ = try CodeFileKey("codes/c1/gift/upload.csv", campaign: "c1") } catch { #expect(error == .invalidType("fileKey: type 'gift' is not one of tm, external")) }
        for key in ["codes/c2/tm/upload.csv", "codes/c1/tm/../../etc/passwd.csv", "codes/c1/tm/.csv", "codes/c1/tm/upload.txt",
                    "files/c1/tm/upload.csv", "codes/c1/tm/sub/upload.csv", "codes/c1/tm/up load.csv", ""] {
            do {
                _ = try CodeFileKey(key, campaign: "c1")
                Issue.record("\(key) was taken")
            } catch {
                guard case .invalidFileKey = error else { Issue.record("\(key): \(error)"); continue }
            }
        }
        #expect(CodeFileKey.isCampaign("spring-2026_A") && !CodeFileKey.isCampaign("") && !CodeFileKey.isCampaign("a.b") && !CodeFileKey.isCampaign("a/b"))
    }
}

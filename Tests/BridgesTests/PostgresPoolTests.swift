@testable import Bridges
import Foundation
import Synchronization
import Testing

@Suite struct PostgresPoolTests {
    @Test func aTransactionCommitsOnReturnAndRollsBackOnThrow() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool()
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { try $0.query("CREATE TABLE notes (body text)") }
        struct Refused: Error {}
        try await pool.transaction { try $0.query("INSERT INTO notes VALUES ($1)", ["kept"]) }
        await #expect(throws: Refused.self) {
            try await pool.transaction { db in
                try db.query("INSERT INTO notes VALUES ($1)", ["rolled back"])
                throw Refused()
            }
        }
        let bodies = try await pool.withConnection { try $0.query("SELECT body FROM notes").rows.map { try $0.decode("body", as: String.self) } }
        #expect(bodies == ["kept"])
    }

    @Test func aSerializationFailureRunsTheTransactionAgain() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool()
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { db in
            try db.query("CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)")
            try db.query("INSERT INTO counters VALUES (1, 0)")
        }
        nonisolated(unsafe) let other = try db.connection()    // used by one pool thread at a time
        let attempts = Atomic<Int>(0)
        try await pool.transaction { tx in
            try tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            _ = try tx.query("SELECT v FROM counters WHERE id = 1")        // the snapshot is taken here
            if attempts.add(1, ordering: .relaxed).newValue == 1 {
                try other.query("UPDATE counters SET v = v + 10 WHERE id = 1")   // commits in between
            }
            try tx.query("UPDATE counters SET v = v + 1 WHERE id = 1")        // 40001 on the first attempt
        }
        #expect(attempts.load(ordering: .relaxed) == 2)
        let v = try await pool.withConnection { try $0.query("SELECT v FROM counters").rows[0].decode("v", as: Int.self) }
        #expect(v == 11)
    }

    @Test func terminatedConnectionsAreReplacedAndNoWriteIsLost() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 2)
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { try $0.query("CREATE TABLE events (id int PRIMARY KEY)") }
        let killer = try db.connection()
        let total = 300
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<total {
                group.addTask {
                    _ = try await pool.transaction(maxAttempts: 10) { tx in
                        try tx.query("INSERT INTO events VALUES ($1) ON CONFLICT DO NOTHING", [i])
                    }
                }
                if i % 50 == 25 {
                    // Mid-stream: the server terminates every backend of this test's pool.
                    try killer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [db.schema])
                }
            }
            try await group.waitForAll()
        }
        let count = try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM events").rows[0].decode("n", as: Int.self) }
        #expect(count == total)
        #expect(pool.replacedConnections >= 1)
    }

    @Test func pipelineAndCopyLoadBatchesAllOrNothing() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { try $0.query("CREATE TABLE rows (id int PRIMARY KEY, body text)") }
        let rows: [[any PostgresEncodable]] = (0..<2500).map { [$0, "row\t\($0)\n\\"] }
        let piped = try await pool.transaction { try $0.pipelined("INSERT INTO rows VALUES ($1, $2)", rows: rows) }
        #expect(piped == 2500)
        let copied = try await pool.transaction { try $0.copy("COPY rows (id, body) FROM STDIN", rows: (2500..<5000).map { [$0, String?.none] }) }
        #expect(copied == 2500)
        // A duplicate key in the middle of a pipelined batch fails it, and the transaction rolls back.
        await #expect(throws: PostgresError.self) {
            try await pool.transaction { try $0.pipelined("INSERT INTO rows VALUES ($1, $2)", rows: [[6000, "new"], [10, "dup"], [6001, "new"]]) }
        }
        let result = try await pool.withConnection { db in
            (try db.query("SELECT count(*) AS n, count(body) AS b FROM rows").rows[0],
             try db.query("SELECT body FROM rows WHERE id = 7").rows[0].decode("body", as: String.self))
        }
        #expect(try result.0.decode("n", as: Int.self) == 5000)
        #expect(try result.0.decode("b", as: Int.self) == 2500)
        #expect(result.1 == "row\t7\n\\")
    }

    @Test func statementsWithParametersArePreparedOnceAndSurviveATableChangingShape() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let c = try db.connection()
        try c.query("CREATE TABLE items (id int PRIMARY KEY, name text)")
        let select = "SELECT * FROM items WHERE id = $1"
        for i in 1...3 { try c.query("INSERT INTO items VALUES ($1, $2)", [i, "n\(i)"]) }
        #expect(try c.query(select, [2]).rows.first?.decode("name", as: String.self) == "n2")
        // planned each time: bound like the others, never prepared
        #expect(try c.query("SELECT name FROM items WHERE id = ANY($1::int[])", [PostgresArray([1, 3])], planEachTime: true).rows.count == 2)
        let prepared = try c.query("SELECT statement FROM pg_prepared_statements ORDER BY statement").rows.map { try $0.decode("statement", as: String.self) }
        #expect(prepared == ["INSERT INTO items VALUES ($1, $2)", select])   // one each, however often run

        // `SELECT *` now returns another shape: the cached plan is dropped and the query still answers
        try c.query("ALTER TABLE items ADD COLUMN price numeric DEFAULT 1.5")
        let row = try #require(try c.query(select, [3]).rows.first)
        #expect(try row.decode("price", as: Decimal.self) == Decimal(string: "1.5"))
        #expect(try c.query(select, [3]).rows.count == 1)

        // a statement that cannot be prepared fails with the server's own error, and nothing is cached
        #expect(throws: PostgresError.self) { try c.query("SELEC id FROM items WHERE id = $1", [1]) }
        let unknownColumn = #expect(throws: PostgresError.self) { try c.query("SELECT nope FROM items WHERE id = $1", [1]) }
        #expect(unknownColumn?.sqlState == "42703")
    }

    @Test func anUnreachableServerIsAConnectionError() async throws {
        let pool = PostgresPool(.init(url: "postgresql://troupe:troupe@127.0.0.1:1/troupe", size: 1, connectTimeout: 2))
        defer { Task { await pool.shutdown() } }
        do {
            try await pool.withConnection { _ in }
            Issue.record("connected to port 1")
        } catch let error as PostgresError {
            #expect(error.kind == .connection)
            #expect(error.isConnectionFailure)
        }
    }

    /// PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK and no error: a body that caught a
    /// failed statement's error must not look committed.
    @Test func aTransactionAbortedByAStatementWhoseErrorWasCaughtFailsInsteadOfCommittingNothing() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        try await pool.withConnection { try $0.query("CREATE TABLE kept (n int)") }
        await #expect(throws: PostgresError.self) {
            try await pool.transaction { db -> Int in
                try db.query("INSERT INTO kept VALUES (1)")
                _ = try? db.query("SELECT 1 / 0")
                return 1
            }
        }
        let n = try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM kept").rows[0].decode("n", as: Int.self) }
        #expect(n == 0)
        #expect(try await pool.transaction { try $0.query("SELECT 2 AS two").rows[0].decode("two", as: Int.self) } == 2, "the connection is usable after")
        await pool.shutdown()
    }
}

@testable import Bridges
import Foundation
import Synchronization
import Testing

@Suite struct PostgresBatcherTests {
    @Test func arrayParametersRoundTripAnyTextWithNulls() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        let texts: [String?] = ["plain", "with \"quotes\"", "back\\slash", "comma, {brace}", "", "NULL", "ünïcødé ✓", nil]
        let back = try await pool.withConnection { db in
            try db.query("SELECT t, ord FROM unnest($1::text[]) WITH ORDINALITY AS a(t, ord) ORDER BY ord", [PostgresArray(texts)])
                .rows.map { try $0.decode("t", as: String?.self) }
        }
        #expect(back == texts)
        let ids = (0..<3).map { _ in UUID() }
        let sum = try await pool.withConnection { db in
            try db.query("SELECT count(DISTINCT u) AS n FROM unnest($1::uuid[]) AS u", [PostgresArray(ids)]).rows[0].decode("n", as: Int.self)
        }
        #expect(sum == 3)
    }

    @Test func afterCommitHooksRunOnlyOnceTheTransactionCommitted() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        let ran = Mutex<[String]>([])
        struct Refused: Error {}
        try await pool.transaction { db in
            db.afterCommit { ran.withLock { $0.append("committed") } }
            #expect(ran.withLock { $0.isEmpty }, "not before COMMIT")
        }
        await #expect(throws: Refused.self) {
            try await pool.transaction { db in
                db.afterCommit { ran.withLock { $0.append("rolled back") } }
                throw Refused()
            }
        }
        try await pool.transaction { _ in }     // a later commit does not run the rolled-back hook
        try await pool.withConnection { db in db.afterCommit { ran.withLock { $0.append("autocommit") } } }
        #expect(ran.withLock { $0 } == ["committed", "autocommit"])
    }

    @Test func concurrentSubmissionsShareBatchesAndABadInputFailsAlone() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 2)
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { try $0.query("CREATE TABLE items (n int PRIMARY KEY CHECK (n >= 0))") }
        let batches = Mutex<[Int]>([])
        let batcher = PostgresBatcher<Int, Int>(pool: pool, writers: 1) { inputs, db in
            batches.withLock { $0.append(inputs.count) }
            // one statement for the batch: a negative input violates the CHECK and fails the whole statement
            let rows = try db.query("INSERT INTO items SELECT unnest($1::int[]) RETURNING n", [PostgresArray(inputs)]).rows
            let inserted = Set(try rows.map { try $0.decode("n", as: Int.self) })
            return inputs.map { inserted.contains($0) ? .success($0 * 10) : .failure(PostgresError(.server, "not inserted")) }
        }
        let inputs = Array(1...200) + [-1]
        let results = await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
            for n in inputs { group.addTask { (n, await Result { try await batcher.submit(n) }) } }
            return await group.reduce(into: [Int: Result<Int, any Error>]()) { $0[$1.0] = $1.1 }
        }
        for n in 1...200 { #expect((try? results[n]?.get()) == n * 10, "input \(n)") }
        #expect(throws: PostgresError.self) { try results[-1]!.get() }
        let count = try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM items").rows[0].decode("n", as: Int.self) }
        #expect(count == 200)
        let sizes = batches.withLock { $0 }
        #expect(sizes.contains { $0 > 1 }, "concurrent callers were written together: \(sizes)")
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

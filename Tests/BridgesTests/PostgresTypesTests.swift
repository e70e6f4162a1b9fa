@testable import ActorRuntime
@testable import Bridges
import Foundation
import Testing

@Suite struct PostgresTypesTests {
    @Test func everySupportedTypeRoundTripsThroughBoundParameters() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool()
        defer { Task { await pool.shutdown() } }
        let id = UUID()
        let at = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let json: JSONValue = .object(["sku": .string("AMZ-25"), "qty": .number(2)])
        let row = try await pool.withConnection { db in
            try db.query("""
                CREATE TABLE samples (t text, i bigint, n numeric(12,4), b boolean, at timestamptz, id uuid,
                                      doc jsonb, raw bytea, missing text)
                """)
            try db.query("INSERT INTO samples VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                         ["it's \"quoted\"; DROP TABLE samples; --", 9_007_199_254_740_993, Decimal(string: "12345678.0001")!,
                          true, at, id, json, PostgresBytes([0, 1, 254, 255]), String?.none])
            return try db.query("SELECT * FROM samples").rows[0]
        }
        #expect(try row.decode("t", as: String.self) == "it's \"quoted\"; DROP TABLE samples; --")
        #expect(try row.decode("i", as: Int.self) == 9_007_199_254_740_993)
        #expect(try row.decode("n", as: Decimal.self) == Decimal(string: "12345678.0001")!)
        #expect(try row.decode("b", as: Bool.self))
        #expect(abs(try row.decode("at", as: Date.self).timeIntervalSince(at)) < 0.000_001)
        #expect(try row.decode("id", as: UUID.self) == id)
        #expect(try row.decode("doc", as: JSONValue.self) == json)
        #expect(try row.decode("raw", as: PostgresBytes.self) == PostgresBytes([0, 1, 254, 255]))
        #expect(try row.decode("missing", as: String?.self) == nil)
    }

    @Test func decodingErrorsNameTheColumn() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        let row = try await pool.withConnection { try $0.query("SELECT 'abc'::text AS name, NULL::int AS n").rows[0] }
        let notInt = #expect(throws: PostgresError.self) { try row.decode("name", as: Int.self) }
        #expect(notInt?.column == "name")
        #expect(notInt?.description.contains("'abc' is not a Int") == true)
        let null = #expect(throws: PostgresError.self) { try row.decode("n", as: Int.self) }
        #expect(null?.column == "n")
        #expect(null?.message.contains("NULL") == true)
        let unknown = #expect(throws: PostgresError.self) { try row.decode("nope", as: Int.self) }
        #expect(unknown?.message.contains("no such column") == true)
    }

    @Test func serverErrorsCarryTheirSQLState() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        try await pool.withConnection { try $0.query("CREATE TABLE keys (k text PRIMARY KEY)") }
        try await pool.withConnection { try $0.query("INSERT INTO keys VALUES ($1)", ["a"]) }
        do {
            try await pool.withConnection { try $0.query("INSERT INTO keys VALUES ($1)", ["a"]) }
            Issue.record("a duplicate key was accepted")
        } catch let error as PostgresError {
            #expect(error.isUniqueViolation)
            #expect(error.sqlState == "23505")
            #expect(!error.isRetryable)
        }
        do {
            try await pool.withConnection { try $0.query("SELEC 1") }
            Issue.record("bad SQL was accepted")
        } catch let error as PostgresError {
            #expect(error.kind == .server)
            #expect(error.sqlState == "42601")
        }
    }

    @Test func timestampTextParsesOffsetsAndFractions() {
        #expect(PostgresTime.parse("2026-11-23 21:19:53+00") == Date(timeIntervalSince1970: 1_795_468_793))
        #expect(PostgresTime.parse("2026-11-23 23:19:53.5+02") == Date(timeIntervalSince1970: 1_795_468_793.5))
        #expect(PostgresTime.parse("2026-11-23 21:49:53+00:30") == Date(timeIntervalSince1970: 1_795_468_793))
        #expect(PostgresTime.parse("yesterday") == nil)
        #expect(PostgresTime.format(Date(timeIntervalSince1970: 1_795_468_793.25)) == "2026-11-23T21:19:53.250000Z")
    }

    /// The digit-by-digit timestamp writer against Calendar and String(format:) (what it replaced), over
    /// dates from 1900 to 2200, leap days and times before 1970 among them.
    @Test func timestampsAreWrittenAsCalendarWritesThem() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func reference(_ date: Date) -> String {
            let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
            let seconds = micros >= 0 ? micros / 1_000_000 : -((-micros + 999_999) / 1_000_000)
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, Int(micros - seconds * 1_000_000))
        }
        var generator = SystemRandomNumberGenerator()
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.5), Date(timeIntervalSince1970: 951_782_400),   // 2000-02-29
                     Date(timeIntervalSince1970: -2_208_988_800), Date(timeIntervalSince1970: 7_258_118_399.999999),
                     Date(timeIntervalSince1970: 253_402_300_800), Date(timeIntervalSince1970: 400_000_000_000)]     // 10000-01-01 and later
        for _ in 0..<5000 { dates.append(Date(timeIntervalSince1970: Double.random(in: -2_208_988_800...7_258_118_400, using: &generator))) }
        for date in dates { #expect(PostgresTime.format(date) == reference(date), "\(date.timeIntervalSince1970)") }
    }
}

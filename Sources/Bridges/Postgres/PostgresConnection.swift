import CLibPQ
import Foundation

/// One libpq connection. Not thread-safe and blocking: it lives on one ``PostgresPool`` thread, and the
/// closures the pool runs get it for the duration of the call only.
///
/// Every statement takes its values as bound parameters (`$1`, `$2`, ...): nothing is spliced into SQL.
public final class PostgresConnection {
    private var conn: OpaquePointer?
    private var preparedCount = 0

    /// Opens a connection from a `postgresql://` URL (or a libpq `key=value` string). The session runs
    /// in UTC with ISO dates, which the `timestamptz` decoding relies on.
    init(url: String, applicationName: String = "troupe", connectTimeout: Int = 5, schema: String? = nil) throws(PostgresError) {
        var options = "-c TimeZone=UTC -c DateStyle=ISO"
        if let schema {
            guard schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw PostgresError(.connection, "schema name '\(schema)' must be letters, digits and _")
            }
            options += " -c search_path=\(schema)"
        }
        let keys = ["dbname", "options", "application_name", "connect_timeout"]
        let values = [url, options, applicationName, String(connectTimeout)]
        let conn = CStrings.with(keys) { k in CStrings.with(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let conn else { throw PostgresError(.connection, "out of memory") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(.connection, message)
        }
        // Server notices ("relation ... already exists, skipping") would go to stderr: drop them.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        self.conn = conn
    }

    deinit { if let conn { PQfinish(conn) } }

    /// The libpq handle, for extensions in this module (LISTEN).
    var rawConnection: OpaquePointer? { conn }

    /// False once the connection broke; the pool then replaces it.
    public var isUsable: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Runs one statement with bound parameters and returns its rows.
    ///
    /// Statements with parameters are prepared on first use and kept for the connection's life (up to
    /// ``statementCacheLimit`` of them), as Npgsql and pgx do: the server then skips parsing and planning,
    /// which for short statements is most of its work.
    /// - Parameter planEachTime: plan the statement at every run instead (still with bound parameters).
    ///   A prepared statement keeps the generic plan it chose after five runs until the table is next
    ///   analyzed: one first run against a table then nearly empty (a fresh database) may scan the whole
    ///   table at every run while it grows, for a minute.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = [], planEachTime: Bool = false) throws(PostgresError) -> PostgresResult {
        let conn = try live()
        let values = parameters.map(\.postgresText)
        // libpq takes C strings: a NUL would silently cut the value. Refuse it instead (SQLSTATE 22021, as
        // PostgreSQL names a character text cannot hold).
        if let i = values.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(.server, "parameter $\(i + 1) contains NUL (\\u0000), which PostgreSQL text cannot hold", sqlState: "22021")
        }
        func unprepared() throws(PostgresError) -> PostgresResult {
            try consume(CStrings.withOptional(values) { v in PQexecParams(conn, sql, Int32(values.count), nil, v, nil, nil, 0) })
        }
        guard !planEachTime, !parameters.isEmpty, let name = try prepared(sql, parameterCount: parameters.count, on: conn) else {
            return try unprepared()
        }
        do {
            return try consume(CStrings.withOptional(values) { v in PQexecPrepared(conn, name, Int32(values.count), v, nil, nil, 0) })
        } catch where error.sqlState == "0A000" {
            // "cached plan must not change result type": a table changed shape under the statement.
            statements[sql] = nil
            guard PQtransactionStatus(conn) == PQTRANS_IDLE else { throw error }
            _ = try? consume(PQexec(conn, "DEALLOCATE \(name)"))
            return try unprepared()
        }
    }

    /// Prepared statements kept per connection; statements beyond it run unprepared.
    public static let statementCacheLimit = 256
    private var statements: [String: String] = [:]

    /// The server-side name of `sql`, preparing it on first use; nil when the cache is full. A statement
    /// that cannot be prepared fails here with the error running it would give.
    private func prepared(_ sql: String, parameterCount: Int, on conn: OpaquePointer) throws(PostgresError) -> String? {
        if let name = statements[sql] { return name }
        guard statements.count < Self.statementCacheLimit else { return nil }
        preparedCount += 1
        let name = "troupe_s\(preparedCount)"
        try consume(PQprepare(conn, name, sql, Int32(parameterCount), nil))
        statements[sql] = name
        return name
    }

    /// Runs a script of statements without parameters (migrations, DDL).
    public func execute(script: String) throws(PostgresError) {
        let conn = try live()
        try consume(PQexec(conn, script))
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws. No retry here;
    /// ``PostgresPool/transaction(maxAttempts:_:)`` retries the whole transaction.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try query("BEGIN")
        do {
            let value = try body(self)
            while !commitPreparations.isEmpty {
                let work = commitPreparations
                commitPreparations = []
                for w in work { try w() }
            }
            // A statement that failed and whose error the body caught aborted the transaction: PostgreSQL
            // answers COMMIT with ROLLBACK and no error, so the body's effects would be lost in silence.
            if let conn, PQtransactionStatus(conn) == PQTRANS_INERROR { throw PostgresError.abortedTransaction }
            try query("COMMIT")
            let hooks = commitHooks
            commitHooks = []
            for hook in hooks { hook() }
            return value
        } catch {
            commitPreparations = []
            commitHooks = []
            if isUsable { _ = try? query("ROLLBACK") }
            throw error
        }
    }

    private var commitPreparations: [() throws -> Void] = []
    private var commitHooks: [@Sendable () -> Void] = []

    /// True inside a transaction (``transaction(_:)``), where statements commit together.
    public var inTransaction: Bool { conn.map { PQtransactionStatus($0) != PQTRANS_IDLE } ?? false }

    /// Runs `work` as the last statements of the ``transaction(_:)`` in progress, just before COMMIT
    /// (its error rolls the transaction back): how writes gathered during the transaction go in as one.
    public func beforeCommit(_ work: @escaping () throws -> Void) {
        commitPreparations.append(work)
    }

    /// Runs `hook` once the transaction in progress has committed (not at all if it rolls back); outside
    /// a ``transaction(_:)``, where each statement commits on its own, at once.
    public func afterCommit(_ hook: @escaping @Sendable () -> Void) {
        guard inTransaction else { return hook() }
        commitHooks.append(hook)
    }

    // MARK: bulk paths

    /// Runs one parameterised statement for many rows in libpq's pipeline mode (one round trip per
    /// batch instead of per row). Wrap it in ``transaction(_:)`` for all-or-nothing.
    /// - Returns: rows affected in total.
    @discardableResult
    public func pipelined(_ sql: String, rows: [[any PostgresEncodable]], batch: Int = 1000) throws(PostgresError) -> Int {
        guard let first = rows.first else { return 0 }
        let conn = try live()
        preparedCount += 1
        let name = "troupe_pipeline_\(preparedCount)"
        try consume(PQprepare(conn, name, sql, Int32(first.count), nil))
        defer { _ = try? query("DEALLOCATE \(name)") }
        guard PQenterPipelineMode(conn) == 1 else { throw connectionError("cannot enter pipeline mode") }
        defer { PQexitPipelineMode(conn) }
        var affected = 0
        var firstError: PostgresError?
        var start = 0
        while start < rows.count {
            let end = min(start + batch, rows.count)
            for row in rows[start..<end] {
                let sent = CStrings.withOptional(row.map(\.postgresText)) { values in
                    PQsendQueryPrepared(conn, name, Int32(row.count), values, nil, nil, 0)
                }
                guard sent == 1 else { throw connectionError("pipeline send failed") }
            }
            guard PQpipelineSync(conn) == 1 else { throw connectionError("pipeline sync failed") }
            // Drain this batch before sending the next, so neither side can block on a full socket.
            var previousWasNull = false
            while true {
                guard let result = PQgetResult(conn) else {
                    // One NULL ends each query's results; two in a row means nothing is pending.
                    if previousWasNull { throw connectionError("pipeline ended early") }
                    previousWasNull = true
                    continue
                }
                previousWasNull = false
                let status = PQresultStatus(result)
                if status == PGRES_PIPELINE_SYNC { PQclear(result); break }
                if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
                    affected += Int(String(cString: PQcmdTuples(result))) ?? 0
                } else if status != PGRES_PIPELINE_ABORTED, firstError == nil {
                    firstError = serverError(result)
                }
                PQclear(result)
            }
            if let firstError { throw firstError }
            start = end
        }
        return affected
    }

    /// Loads rows with `COPY ... FROM STDIN` (text format), e.g. `COPY events (id, body) FROM STDIN`.
    /// - Returns: rows copied.
    @discardableResult
    public func copy(_ copySQL: String, rows: [[any PostgresEncodable]]) throws(PostgresError) -> Int {
        let conn = try live()
        guard let start = PQexec(conn, copySQL) else { throw connectionError("COPY failed to start") }
        guard PQresultStatus(start) == PGRES_COPY_IN else { _ = try consume(start); throw PostgresError(.server, "not a COPY FROM STDIN statement") }
        PQclear(start)
        var buffer = [UInt8]()
        buffer.reserveCapacity(1 << 20)
        func flush() throws(PostgresError) {
            guard !buffer.isEmpty else { return }
            let ok = buffer.withUnsafeBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { PQputCopyData(conn, $0, Int32(b.count)) }
            }
            guard ok == 1 else { throw connectionError("COPY data failed") }
            buffer.removeAll(keepingCapacity: true)
        }
        for row in rows {
            for (i, value) in row.enumerated() {
                if i > 0 { buffer.append(9) }
                CopyText.append(value.postgresText, to: &buffer)
            }
            buffer.append(10)
            if buffer.count >= 1 << 20 { try flush() }
        }
        try flush()
        guard PQputCopyEnd(conn, nil) == 1 else { throw connectionError("COPY end failed") }
        let result = try consume(PQgetResult(conn))
        while let extra = PQgetResult(conn) { PQclear(extra) }
        return result.affectedRows
    }

    // MARK: plumbing

    private func live() throws(PostgresError) -> OpaquePointer {
        guard let conn, PQstatus(conn) == CONNECTION_OK else { throw PostgresError(.connection, "connection is broken") }
        return conn
    }

    private func connectionError(_ what: String) -> PostgresError {
        PostgresError(.connection, "\(what): \(conn.map { Self.trimmed(PQerrorMessage($0)) } ?? "no connection")")
    }

    /// Turns a result into rows or an error, and frees it.
    @discardableResult
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresResult {
        guard let result else { throw connectionError("no result") }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            let columnCount = Int(PQnfields(result))
            let columns = PostgresColumns((0..<columnCount).map { String(cString: PQfname(result, Int32($0))) })
            let rowCount = Int(PQntuples(result))
            var rows: [PostgresRow] = []
            rows.reserveCapacity(rowCount)
            for r in 0..<rowCount {
                var values: [String?] = []
                values.reserveCapacity(columnCount)
                for c in 0..<columnCount {
                    values.append(PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
                rows.append(PostgresRow(columns: columns, values: values))
            }
            return PostgresResult(rows: rows, affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
        default:
            throw serverError(result)
        }
    }

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
        let detail = PQresultErrorField(result, Int32(UInt8(ascii: "D"))).map { String(cString: $0) }
        let message = [primary ?? Self.trimmed(PQresultErrorMessage(result)), detail].compactMap { $0 }.joined(separator: " ")
        if state == nil, !isUsable { return PostgresError(.connection, message) }
        return PostgresError(.server, message, sqlState: state)
    }

    /// libpq's message on one line (it spreads hints over several).
    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

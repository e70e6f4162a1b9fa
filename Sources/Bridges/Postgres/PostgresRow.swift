/// One row of a result, decoded by column name:
///
///     let total = try row.decode("total", as: Decimal.self)
///     let note = try row.decode("note", as: String?.self)   // NULL allowed
public struct PostgresRow: Sendable {
    let columns: PostgresColumns
    let values: [String?]

    /// The value of `column` as `T`; the error names the column and what it held.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard let index = columns.index[column] else {
            throw PostgresError(.decoding, "no such column (have: \(columns.names.joined(separator: ", ")))", column: column)
        }
        guard let text = values[index] else { return try T.decodeNull(column: column) }
        return try T.decode(postgresText: text, column: column)
    }

    /// The raw text of `column`, nil for NULL.
    public subscript(column: String) -> String? {
        columns.index[column].flatMap { values[$0] }
    }
}

/// Column names of a result, shared by its rows.
final class PostgresColumns: Sendable {
    let names: [String]
    let index: [String: Int]
    init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}

/// What a statement returned: its rows, and how many rows it changed.
public struct PostgresResult: Sendable {
    public let rows: [PostgresRow]
    /// Rows inserted, updated or deleted (`PQcmdTuples`); 0 for other statements.
    public let affectedRows: Int
}

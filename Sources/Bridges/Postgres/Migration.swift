import Foundation

/// One versioned SQL file, `NNNN_name.sql`: applied once, in version order, inside a transaction.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Detects a migration edited after it was applied (FNV-1a 64 of the SQL; not a security measure).
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return String(hash, radix: 16)
    }

    public var fileName: String { String(format: "%04d_%@.sql", version, name) }

    /// Troupe's own migrations (inbox, outbox), shipped with the Bridges module.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.missingDirectory("Bridges' Migrations resource")
        }
        return try load(directory: directory)
    }

    /// Every `NNNN_name.sql` file of `directory`, in version order.
    public static func load(directory: URL) throws -> [Migration] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError.missingDirectory(directory.path)
        }
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationError.badFileName(file)
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        return try ordered(migrations)
    }

    /// Sorted by version; two migrations with one version are an error.
    public static func ordered(_ migrations: [Migration]) throws -> [Migration] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.version == b.version {
            throw MigrationError.duplicateVersion(a.version, a.fileName, b.fileName)
        }
        return sorted
    }
}

/// Why migrations could not be loaded or applied.
public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case missingDirectory(String)
    case badFileName(String)
    case duplicateVersion(Int, String, String)
    /// An applied migration's SQL differs from the file now: migrations are append-only.
    case changedAfterApply(String)

    public var description: String {
        switch self {
        case .missingDirectory(let d): "migrations directory not found: \(d)"
        case .badFileName(let f): "migration file '\(f)' is not named NNNN_name.sql"
        case .duplicateVersion(let v, let a, let b): "migrations \(a) and \(b) share version \(v)"
        case .changedAfterApply(let f): "migration \(f) was changed after it was applied; add a new migration instead"
        }
    }
}

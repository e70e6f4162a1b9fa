import Bridges
import Foundation

/// The domain's tables, as migrations shipped with this module (versions from 100, after Troupe's own).
public enum DomainSchema {
    public static func migrations() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.missingDirectory("Domain's Migrations resource")
        }
        return try Migration.load(directory: directory)
    }

    /// Troupe's migrations and the domain's, in version order: what every node and `troupe migrate` apply.
    public static func allMigrations() throws -> [Migration] {
        try Migration.ordered(Migration.bundled() + migrations())
    }
}

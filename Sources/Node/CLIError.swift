import Bridges

/// An error the CLI reports as one line, with its exit code.
struct CLIError: Error {
    let message: String
    let exitCode: Int32

    /// Bad command-line input or topology: exit 2.
    static func usage(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }
}

extension CLIError {
    /// Runs a broker operation; an unreachable broker (exit 69) or a refusal (exit 1) becomes one line
    /// naming it, with the password masked.
    static func onBroker<T>(_ topology: Topology, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AMQPError where error.kind == .connection {
            throw CLIError(message: "cannot reach RabbitMQ at \(Redact.url(topology.broker.url)): \(error.message)", exitCode: 69)
        } catch let error as AMQPError {
            throw CLIError(message: error.message, exitCode: 1)
        }
    }
}

extension CLIError {
    /// Runs `body` with a one-connection pool on the topology's database (migrated first when `migrate`);
    /// an unreachable database (exit 69) or a failed statement (exit 1) becomes one line naming it.
    static func onDatabase<T>(_ topology: Topology, command: String, migrate: Bool = true,
                              _ body: (PostgresPool) async throws -> T) async throws -> T {
        let pool = topology.database.pool(size: 1, applicationName: "troupe \(command)")
        do {
            return try await withCleanup {
                if migrate { try await topology.database.migrate(pool) }
                return try await body(pool)
            } cleanup: { await pool.shutdown() }
        } catch let error as PostgresError where error.isConnectionFailure {
            throw CLIError(message: "cannot reach PostgreSQL at \(Redact.url(topology.database.url)): \(error.message)", exitCode: 69)
        } catch let error as PostgresError {
            throw CLIError(message: "\(command) failed: \(error.message)", exitCode: 1)
        }
    }
}

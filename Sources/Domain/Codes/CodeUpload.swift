import Bridges
import ActorRuntime
import Foundation

/// Reads a CSV of codes as it arrives and upserts it into a campaign's pool in batches of
/// ``CodePool/uploadBatch`` (each batch its own transaction, written while the next ones are read), so memory stays
/// flat however large the file; each batch is committed with its `codes.uploaded` (its counts, the upload's id and
/// its number). A batch that fails stops the upload, the batches written meanwhile committed with their events:
/// uploading the file again counts those codes as updated and the rest as inserted.
public struct CodeUpload: Sendable {
    /// What the upload did, and the records skipped as not valid codes.
    public struct Outcome: Sendable, Equatable {
        public let count: CodePool.UploadCount
        public let badRows: Int
    }

    public let campaign: String
    public let type: CodePool.CodeType
    public let pool: PostgresPool
    public let batchSize: Int

    /// Batches written at once, each on a connection of its own.
    public let writers: Int
    /// ``writers`` unless told otherwise: two batches in flight keep both of PostgreSQL's cores busy on a two-core
    /// machine while the next is parsed (0.36 of COPY's rate with one, 0.49-0.60 with two; docs/BENCHMARKS.md).
    public static let writers = 2

    public init(campaign: String, type: CodePool.CodeType, pool: PostgresPool, batchSize: Int = CodePool.uploadBatch,
                writers: Int = CodeUpload.writers) {
        self.campaign = campaign
        self.type = type
        self.pool = pool
        self.batchSize = max(1, batchSize)
        self.writers = max(1, writers)
    }

    /// Reads the file from `chunks` (its bytes in order, in parts of any size) and stores its codes. Batches are
    /// read while ``writers`` others are written (each its own transaction, on its own connection): the parsing
    /// and PostgreSQL's work overlap instead of taking turns.
    public func run<Chunks: AsyncSequence>(_ chunks: Chunks) async throws -> Outcome where Chunks.Element: Sequence<UInt8> {
        let upload = UUID.v7()
        var reader = CSVFirstColumn()
        var batch: [String] = []
        batch.reserveCapacity(batchSize)
        var batches = 0, badRowsReported = 0
        let total: CodePool.UploadCount = try await withThrowingTaskGroup(of: CodePool.UploadCount.self) { writes in
            var total = CodePool.UploadCount(), inFlight = 0
            /// Waits for a batch in flight when ``writers`` are, then starts writing `codes` with the rows skipped
            /// since the batch before.
            func write(_ codes: [String]) async throws {
                if inFlight == writers, let done = try await writes.next() {
                    total = total + done
                    inFlight -= 1
                }
                batches += 1
                let number = batches, badRows = reader.badRows - badRowsReported
                badRowsReported = reader.badRows
                writes.addTask { try await store(codes, upload: upload, batch: number, badRows: badRows) }
                inFlight += 1
            }
            for try await chunk in chunks {
                var full: [[String]] = []
                reader.feed(chunk) { code in
                    batch.append(code)
                    if batch.count == batchSize {
                        full.append(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                for codes in full { try await write(codes) }
            }
            reader.finish { batch.append($0) }
            // The last batch carries the last bad rows; a file whose last rows are all bad reports them in an
            // event of their own.
            if !batch.isEmpty || reader.badRows > badRowsReported { try await write(batch) }
            for try await done in writes { total = total + done }
            return total
        }
        if total.inserted >= CodePool.analyzeAfter { await refreshStatistics() }
        return Outcome(count: total, badRows: reader.badRows)
    }

    /// One batch and its `codes.uploaded`, in one transaction.
    private func store(_ codes: [String], upload: UUID, batch: Int, badRows: Int) async throws -> CodePool.UploadCount {
        try await pool.transaction { [campaign, type] db in
            let count = try CodePool.upsert(campaign: campaign, type: type, codes: codes, on: db)
            try CodePool.uploaded(campaign: campaign, type: type, uploadId: upload, batch: batch, count: count, badRows: badRows, on: db)
            return count
        }
    }

    /// `ANALYZE code_pool`: statistics that predate a large upload estimate its campaign at a row or so, and the
    /// planner then reads the whole campaign to reserve 10 codes (tested); autovacuum would refresh them only later.
    /// It waits at most a few seconds for its lock (a long VACUUM holds it), then leaves the work to autovacuum: the
    /// upload is stored either way.
    private func refreshStatistics() async {
        _ = try? await pool.transaction { db in
            try db.query("SET LOCAL lock_timeout = '3s'")
            try db.query("ANALYZE code_pool")
        }
    }
}

import Bridges

/// Reads a CSV of codes as it arrives and upserts it into a campaign's pool in batches of
/// ``CodePool/uploadBatch`` (each batch its own transaction), so memory stays flat however large the file; then
/// emits `codes.uploaded` with the totals. A batch that fails stops the upload with the batches before it
/// committed: uploading the file again counts those codes as updated and the rest as inserted.
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

    public init(campaign: String, type: CodePool.CodeType, pool: PostgresPool, batchSize: Int = CodePool.uploadBatch) {
        self.campaign = campaign
        self.type = type
        self.pool = pool
        self.batchSize = max(1, batchSize)
    }

    /// Reads the file from `chunks` (its bytes in order, in parts of any size) and stores its codes.
    public func run<Chunks: AsyncSequence>(_ chunks: Chunks) async throws -> Outcome where Chunks.Element: Sequence<UInt8> {
        var reader = CSVFirstColumn()
        var batch: [String] = []
        batch.reserveCapacity(batchSize)
        var total = CodePool.UploadCount()
        for try await chunk in chunks {
            var full: [[String]] = []
            reader.feed(chunk) { code in
                batch.append(code)
                if batch.count == batchSize {
                    full.append(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            for codes in full { total = total + (try await store(codes)) }
        }
        reader.finish { batch.append($0) }
        if !batch.isEmpty { total = total + (try await store(batch)) }
        let outcome = Outcome(count: total, badRows: reader.badRows)
        try await pool.withConnection { [campaign, type] db in
            try CodePool.uploaded(campaign: campaign, type: type, count: outcome.count, badRows: outcome.badRows, on: db)
        }
        return outcome
    }

    private func store(_ codes: [String]) async throws -> CodePool.UploadCount {
        try await pool.transaction { [campaign, type] db in try CodePool.upsert(campaign: campaign, type: type, codes: codes, on: db) }
    }
}

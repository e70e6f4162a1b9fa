-- A partner's ledger is read newest first, a page at a time (GET /api/wallet: id < cursor ORDER BY id DESC).
CREATE INDEX wallet_entries_partner_id ON wallet_entries (partner_id, id);
DROP INDEX wallet_entries_partner;

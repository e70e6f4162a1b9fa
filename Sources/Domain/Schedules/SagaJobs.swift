import ActorRuntime
import Bridges
import Foundation

/// The saga's recurring jobs.
public enum SagaJobs {
    /// Every minute (seed behaviour): orders of the last 24 h with no vendor order id, not terminal, and
    /// not moved for a minute are re-driven: an `order.created` again, whose handler re-sends the command
    /// of the step the order waits in.
    public static let backfill = RecurringJob(name: "order-backfill", period: .seconds(60)) { db in
        try redrive(db, from: "now() - interval '24 hours'", to: "now()", stuckFor: 60)
    }

    /// Re-drives the orders created between `from` and `to` (SQL expressions or bound $1/$2) that have no
    /// vendor order id, are not terminal and did not move for `stuckFor` seconds. Returns how many.
    static func redrive(_ db: PostgresConnection, from: String, to: String, stuckFor: Double, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        let n = parameters.count
        let rows = try db.query("""
            SELECT id, correlation_id FROM orders
            WHERE created_at >= \(from) AND created_at < \(to) AND vendor_order_id IS NULL AND status = 'Processing'
              AND step IN ('created', 'reserving', 'debiting', 'placing')
              AND updated_at < now() - make_interval(secs => $\(n + 1))
            ORDER BY created_at LIMIT 1000
            """, parameters + [stuckFor]).rows
        for row in rows {
            try TransactionalOutbox.emit(OrderSaga.redrive(try row.decode("id"), correlationId: try row.decode("correlation_id")), on: db)
        }
        return rows.count
    }

    /// Admin re-drive (`POST /api/orderqueue/queue-by-date-range`): the same, for a date range, at once.
    public static func redrive(from: Date, to: Date, on db: PostgresConnection) throws -> Int {
        try redrive(db, from: "$1", to: "$2", stuckFor: 0, [from, to])
    }

    /// Reservations past their time to live (``Inventory/reservationTTL`` by default) that were neither
    /// confirmed nor released expire, and their units go back to stock; checked every minute, or every half
    /// TTL when that is shorter.
    ///
    /// **A reservation whose order has been debited or placed does not expire**: the vendor may deliver
    /// the cards at any moment, and the stock must still be there to confirm. Only reservations of orders
    /// that never paid (stuck before the debit, or with no order at all) go back to stock. (Should one
    /// expire anyway, a late confirm takes the units again: ``Inventory``.)
    public static let expireReservations = expireReservations(ttl: Inventory.reservationTTL)

    public static func expireReservations(ttl: Duration) -> RecurringJob {
        RecurringJob(name: "reservation-expiry", period: max(.seconds(1), min(.seconds(60), ttl / 2))) { db in
            let rows = try db.query("""
                UPDATE inventory_reservations r SET status = 'expired', updated_at = now()
                WHERE r.status = 'reserved' AND r.expires_at < now()
                  AND NOT EXISTS (SELECT 1 FROM wallet_entries w WHERE w.idempotency_key = r.order_id::text || ':debit')
                  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = r.order_id AND o.step IN ('placing', 'polling', 'confirming', 'completed'))
                RETURNING product_id, quantity
                """).rows
            for r in rows {
                try db.query("UPDATE inventory_stock SET available = available + $2, updated_at = now() WHERE product_id = $1",
                             [try r.decode("product_id", as: Int64.self), try r.decode("quantity", as: Int.self)])
            }
            return rows.count
        }
    }

    /// How long an order may stay in one step before reconciliation re-drives it.
    public static let reconcileAfter: Duration = .seconds(300)

    /// Every 5 minutes, once per cluster (the reference's reconciliation): every order still `Processing`
    /// that has not moved for ``reconcileAfter`` gets the command of the step it waits in again, whatever
    /// the step: reserve, debit, place, a fresh round of polls (the vendor is asked again), confirm, or the
    /// compensations still pending (release, refund). Every command is idempotent, so re-sending one that
    /// was only slow changes nothing. Returns how many orders it re-drove.
    public static let reconcile = RecurringJob(name: "order-reconciliation", period: .seconds(300)) { db in
        try reconcile(db, stuckFor: reconcileAfter)
    }

    static func reconcile(_ db: PostgresConnection, stuckFor: Duration) throws -> Int {
        // The least recently reconciled first, and each marked: orders that never resolve cannot take the
        // whole batch at every run.
        let rows = try db.query("""
            UPDATE orders SET reconciled_at = now()
            WHERE id IN (SELECT id FROM orders
                         WHERE status = 'Processing' AND updated_at < now() - make_interval(secs => $1)
                           AND (reconciled_at IS NULL OR reconciled_at < now() - make_interval(secs => $1))
                         ORDER BY reconciled_at NULLS FIRST, updated_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
            RETURNING id, release_pending, refund_pending
            """, [stuckFor.inSeconds]).rows
        var redriven = 0
        for row in rows {
            guard let order = try OrderSaga.facts(db, try row.decode("id")) else { continue }
            let commands = OrderSaga.reconciliationCommands(of: order, releasePending: try row.decode("release_pending"),
                                                                refundPending: try row.decode("refund_pending"))
            try TransactionalOutbox.emit(commands, on: db)
            if !commands.isEmpty { redriven += 1 }
        }
        return redriven
    }
}

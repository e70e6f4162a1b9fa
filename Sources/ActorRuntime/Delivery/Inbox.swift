/// Idempotent consumer: the record of which envelopes a component has handled. The record and the
/// handler's effects commit in one transaction, so a redelivered or re-published duplicate is
/// recognised and acknowledged without running its effects again.
public protocol Inbox {
    /// Records that `component` handles `envelopeID` in the current transaction.
    /// - Returns: false when it was handled before (skip the effects).
    func recordFirstDelivery(of envelopeID: String, component: String) throws -> Bool
}

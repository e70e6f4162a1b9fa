/// The order saga's topics. Commands (what a component is asked to do) and their replies; OrderQueue
/// orchestrates, each step an envelope on the broker, handled idempotently.
public enum SagaTopic {
    public static let orderCreated = "order.created"
    public static let orderCompleted = "order.completed"
    public static let orderFailed = "order.failed"

    public static let reserve = "inventory.reserve"
    public static let reserved = "inventory.reserved"
    public static let reserveFailed = "inventory.reserve-failed"
    public static let confirm = "inventory.confirm"
    public static let confirmed = "inventory.confirmed"
    public static let release = "inventory.release"
    public static let released = "inventory.released"

    public static let debit = "payment.debit"
    public static let debited = "payment.debited"
    public static let debitFailed = "payment.debit-failed"
    public static let refund = "payment.refund"
    public static let refunded = "payment.refunded"

    /// OrderQueue to itself: place the vendor order, then poll it.
    public static let placeVendorOrder = "order.vendor-place"
    public static let pollVendorOrder = "order.vendor-poll"
}

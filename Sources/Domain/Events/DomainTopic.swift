/// Domain events other components (and outside consumers) may rely on, besides the saga's
/// (``SagaTopic``): documented with their payloads in docs/EVENTS.md, version 1.
public enum DomainTopic {
    /// `troupe partner add` created a partner (producer `payment`: the partner's wallet is opened with it).
    public static let partnerCreated = "partner.created"
    /// Something an operator must look at (e.g. a notification that could not be delivered in time).
    public static let alertRaised = "alert.raised"
    /// BrandSync saved the vendor's catalog (producer `brand-sync`): the products' counts (`new`, `changed`,
    /// `unchanged`, `unavailable`), the brands' and the categories' (null when that part did not run).
    public static let catalogSynced = "catalog.synced"
    /// A top-up's payment intent succeeded and its amount was credited to the wallet, once (producer `payment`).
    public static let paymentSucceeded = "payment.succeeded"
    /// A top-up's payment failed: nothing was credited (producer `payment`).
    public static let paymentFailed = "payment.failed"
    /// Codes were uploaded to a campaign's pool (producer `inventory`): `campaignId`, `type`, `in`, `inserted`,
    /// `updated`, `badRows`.
    public static let codesUploaded = "codes.uploaded"
    /// Codes were reserved (producer `inventory`): `campaignId`, `type`, `reserveId`, `count`.
    public static let codesReserved = "codes.reserved"
    /// Codes were assigned, for good (producer `inventory`): `campaignId`, `in`, `updated`.
    public static let codesAssigned = "codes.assigned"
    /// Reserved codes were released (producer `inventory`): `campaignId`, `in`, `updated`.
    public static let codesReleased = "codes.released"
}

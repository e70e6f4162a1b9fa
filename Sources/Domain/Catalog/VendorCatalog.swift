import ActorRuntime
import Bridges
import Foundation

/// The vendor's catalog as Troupe keeps it: categories, brands (linked to every category they list) and
/// products, upserted by the vendor's internal ids. A row whose content did not change is not written (a
/// hash of what the vendor said decides); a product that left the catalog is marked unavailable, never
/// deleted (orders reference it); a change of a product's face value range is recorded with its time.
public struct VendorCatalog: Sendable, Equatable {
    public struct Category: Sendable, Equatable { public let id: String, name: String }
    public struct Brand: Sendable, Equatable {
        public let id: String, name: String, country: String, currency: String
        /// The vendor's category ids, as listed.
        public let categories: [String]
    }
    public struct Product: Sendable, Equatable {
        public let id: String, sku: String, name: String, brand: String, category: String?, country: String, currency: String
        public let minFace: Decimal, maxFace: Decimal, count: Int
        /// The brand's internal id.
        public let brandId: String
    }

    public let brands: [Brand]
    public let products: [Product]
    /// Entries left out, with why (a missing field, a number that does not fit, an id seen twice): for the
    /// log. A bad entry never fails the sync, let alone traps.
    public var skipped: [String] = []

    public init(brands: [Brand], products: [Product], skipped: [String] = []) {
        self.brands = brands
        self.products = products
        self.skipped = skipped
    }

    /// What a save did, by rows: inserted, written because they changed (or came back), left alone, and
    /// marked unavailable because the vendor no longer lists them.
    public struct Counts: Sendable, Equatable {
        public var new = 0, changed = 0, unchanged = 0, unavailable = 0
        public init(new: Int = 0, changed: Int = 0, unchanged: Int = 0, unavailable: Int = 0) {
            self.new = new
            self.changed = changed
            self.unchanged = unchanged
            self.unavailable = unavailable
        }
        public var json: JSONValue {
            .object(["new": .number(Double(new)), "changed": .number(Double(changed)), "unchanged": .number(Double(unchanged)),
                     "unavailable": .number(Double(unavailable))])
        }
        public var text: String { "\(new) new, \(changed) changed, \(unchanged) unchanged, \(unavailable) unavailable" }
    }

    /// An id or name: a string without NUL, or a whole number (written as digits).
    static func text(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s.utf8.contains(0) || s.unicodeScalars.contains("\u{1F}") ? nil : s
        case .number(let n)?: return Int64(exactly: n).map(String.init)
        default: return nil
        }
    }

    /// Reads Bamboo's `GET /v2.0/categories` (`[{"Id", "Name"}]`); entries without a usable Id and Name, or
    /// an Id seen before, are skipped with the reason.
    public static func parseCategories(_ json: JSONValue) -> (categories: [Category], skipped: [String]) {
        var skipped: [String] = [], seen = Set<String>(), categories: [Category] = []
        guard case .array(let list) = json else { return ([], ["categories: the answer is not a list"]) }
        for c in list {
            guard let id = text(c["Id"]), let name = text(c["Name"]) else { skipped.append("category \(c["Id"].map { "\($0)" } ?? "?"): no usable Id and Name"); continue }
            guard seen.insert(id).inserted else { skipped.append("category \(id): listed twice"); continue }
            categories.append(Category(id: id, name: name))
        }
        return (categories, skipped)
    }

    /// Reads Bamboo's `GET /v1.0/catalog` (`{"Brands": [{"InternalId", "Name", "CountryCode", "CurrencyCode",
    /// "Categories": [id], "Products": [{"Id", "Name", "MinFaceValue", "MaxFaceValue", "Count"}]}]}`; a brand
    /// without `InternalId` is keyed by name and country). Entries with a missing field, an id seen before, or a
    /// number that does not fit (an id that is not a whole number within 64 bits, a count below 0 or over
    /// 2^31, a face value that is not a finite amount), are skipped with the reason.
    public static func parse(catalog: JSONValue) -> VendorCatalog {
        var skipped: [String] = []
        func number(_ v: JSONValue?) -> Double? { if case .number(let n)? = v { n } else { nil } }
        var brands: [Brand] = [], products: [Product] = []
        var seenBrands = Set<String>(), seenProducts = Set<String>()
        guard case .array(let list)? = catalog["Brands"] else {
            return VendorCatalog(brands: [], products: [], skipped: ["catalog: no Brands list"])
        }
        for b in list {
            guard let name = text(b["Name"]), case .array(let items)? = b["Products"] else {
                skipped.append("brand \(b["Name"].map { "\($0)" } ?? "?"): no usable Name and Products")
                continue
            }
            let country = text(b["CountryCode"]) ?? "", currency = text(b["CurrencyCode"]) ?? "USD"
            let brandId = text(b["InternalId"]) ?? "\(name)|\(country)"
            guard seenBrands.insert(brandId).inserted else { skipped.append("brand \(brandId): listed twice"); continue }
            var categories: [String] = []
            if case .array(let ids)? = b["Categories"] { categories = ids.compactMap { text($0) } }
            brands.append(Brand(id: brandId, name: name, country: country, currency: currency, categories: categories))
            for p in items {
                guard let id = text(p["Id"]), let productName = text(p["Name"]), let lo = number(p["MinFaceValue"]), let hi = number(p["MaxFaceValue"]),
                      lo > 0, hi >= lo, hi < 1e12, let minFace = Money.parse(String(format: "%.2f", lo)), let maxFace = Money.parse(String(format: "%.2f", hi)),
                      minFace > 0                                   // 0.004 rounds to 0.00: not a face value
                else {
                    skipped.append("product \(p["Id"].map { "\($0)" } ?? "?") of \(name): no usable Id, Name or face values")
                    continue
                }
                let count: Int
                switch p["Count"] {
                case nil, .null?: count = 0
                case .number(let n)? where Int32(exactly: n).map({ $0 >= 0 }) == true: count = Int(n)
                default:
                    skipped.append("product \(id) of \(name): Count \(p["Count"].map { "\($0)" } ?? "") is not a whole number from 0 to 2^31")
                    continue
                }
                guard seenProducts.insert(id).inserted else { skipped.append("product \(id) of \(name): listed twice"); continue }
                let slug = name.uppercased().filter { $0.isLetter || $0.isNumber }
                products.append(Product(id: id, sku: "\(slug)-\(country.uppercased())-\(id)", name: productName, brand: name,
                                        category: categories.first, country: country, currency: currency, minFace: minFace, maxFace: maxFace,
                                        count: count, brandId: brandId))
            }
        }
        return VendorCatalog(brands: brands, products: products, skipped: skipped)
    }

    /// This catalog without the products whose SKU another product holds already (a row inserted by hand
    /// with the same SKU and another internal id): each is left out with the reason, so one clash does not
    /// fail the whole sync.
    public func withoutSKUsTaken(on db: PostgresConnection) throws -> VendorCatalog {
        let taken = Set(try db.query("""
            SELECT i.internal_id FROM unnest($1::text[], $2::text[]) AS i(internal_id, sku)
            JOIN products p ON p.sku = i.sku AND p.internal_id <> i.internal_id
            """, [PostgresArray(products, \.id), PostgresArray(products, \.sku)]).rows.map { try $0.decode("internal_id", as: String.self) })
        guard !taken.isEmpty else { return self }
        var kept = VendorCatalog(brands: brands, products: products.filter { !taken.contains($0.id) }, skipped: skipped)
        for p in products where taken.contains(p.id) { kept.skipped.append("product \(p.id) of \(p.brand): SKU \(p.sku) is another product's") }
        return kept
    }

    /// Upserts categories (one sync writes at a time: an advisory lock); categories the vendor no longer
    /// lists are marked unavailable.
    public static func save(categories: [Category], on db: PostgresConnection) throws -> Counts {
        try db.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.troupe.catalog-sync'))")
        let row = try db.query("""
            WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS i(internal_id, name)),
            upserted AS (
                INSERT INTO categories (internal_id, name) SELECT internal_id, name FROM input ORDER BY internal_id
                ON CONFLICT (internal_id) DO UPDATE SET name = EXCLUDED.name, available = true, updated_at = now()
                WHERE categories.name IS DISTINCT FROM EXCLUDED.name OR NOT categories.available
                RETURNING (xmax = 0) AS inserted
            ), gone AS (
                UPDATE categories SET available = false, updated_at = now()
                WHERE available AND internal_id NOT IN (SELECT internal_id FROM input) RETURNING 1
            )
            \(Self.countsOfUpsertedAndGone)
            """, [PostgresArray(categories, \.id), PostgresArray(categories, \.name)]).rows[0]
        return try counts(row, total: categories.count)
    }

    /// Upserts brands, their category links and products, marks what left the catalog unavailable and
    /// records face value range changes, in the caller's transaction. - Returns: the products' counts and
    /// the brands'.
    public func save(on db: PostgresConnection) throws -> (products: Counts, brands: Counts) {
        try db.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.troupe.catalog-sync'))")
        let separator = "\u{1F}"
        let brandRow = try db.query("""
            WITH input AS (
                SELECT i.*, md5(concat_ws(chr(31), i.name, i.country, i.currency, i.categories)) AS hash
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS i(internal_id, name, country, currency, categories)
            ), upserted AS (
                INSERT INTO brands (internal_id, name, country, currency, content_hash)
                SELECT internal_id, name, country, currency, hash FROM input ORDER BY internal_id
                ON CONFLICT (internal_id) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country, currency = EXCLUDED.currency,
                    content_hash = EXCLUDED.content_hash, available = true, updated_at = now()
                WHERE brands.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR NOT brands.available
                RETURNING id, internal_id, (xmax = 0) AS inserted
            ), unlinked AS (
                DELETE FROM brand_categories l USING upserted u JOIN input i USING (internal_id)
                WHERE l.brand_id = u.id AND NOT (l.category_id = ANY (string_to_array(i.categories, chr(31))))
            ), linked AS (
                INSERT INTO brand_categories (brand_id, category_id)
                SELECT u.id, c FROM upserted u JOIN input i USING (internal_id), unnest(string_to_array(NULLIF(i.categories, ''), chr(31))) AS c
                ON CONFLICT DO NOTHING
            ), gone AS (
                UPDATE brands SET available = false, updated_at = now()
                WHERE available AND internal_id NOT IN (SELECT internal_id FROM input) RETURNING 1
            )
            \(Self.countsOfUpsertedAndGone)
            """, [PostgresArray(brands, \.id), PostgresArray(brands, \.name), PostgresArray(brands, \.country), PostgresArray(brands, \.currency),
                  PostgresArray(brands) { $0.categories.joined(separator: separator) }]).rows[0]
        let productRow = try db.query("""
            WITH input AS (
                SELECT i.*, md5(concat_ws(chr(31), i.name, i.brand, i.brand_key, i.category_id, i.country, i.currency,
                                          i.min_face::text, i.max_face::text)) AS hash
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                            $9::numeric[], $10::numeric[], $11::int[])
                    AS i(internal_id, sku, name, brand, brand_key, category_id, country, currency, min_face, max_face, stock)
            ), before AS (
                SELECT p.internal_id, p.min_face_value, p.max_face_value FROM products p JOIN input USING (internal_id)
            ), upserted AS (
                INSERT INTO products (internal_id, sku, name, brand, brand_id, category_id, country, currency, min_face_value, max_face_value,
                                      content_hash, available, from_vendor)
                SELECT i.internal_id, i.sku, i.name, i.brand, b.id, i.category_id, i.country, i.currency, i.min_face, i.max_face, i.hash, true, true
                FROM input i LEFT JOIN brands b ON b.internal_id = i.brand_key ORDER BY i.internal_id
                ON CONFLICT (internal_id) DO UPDATE SET name = EXCLUDED.name, brand = EXCLUDED.brand, brand_id = EXCLUDED.brand_id,
                    category_id = EXCLUDED.category_id, country = EXCLUDED.country, currency = EXCLUDED.currency,
                    min_face_value = EXCLUDED.min_face_value, max_face_value = EXCLUDED.max_face_value,
                    content_hash = EXCLUDED.content_hash, available = true, from_vendor = true, updated_at = now()
                WHERE products.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR NOT products.available OR NOT products.from_vendor
                RETURNING id, internal_id, (xmax = 0) AS inserted, min_face_value, max_face_value
            ), history AS (
                INSERT INTO product_price_history (product_id, previous_min_face_value, previous_max_face_value, min_face_value, max_face_value)
                SELECT u.id, b.min_face_value, b.max_face_value, u.min_face_value, u.max_face_value
                FROM upserted u JOIN before b USING (internal_id)
                WHERE (b.min_face_value, b.max_face_value) IS DISTINCT FROM (u.min_face_value, u.max_face_value)
            ), stock AS (
                INSERT INTO inventory_stock (product_id, available)
                SELECT u.id, i.stock FROM upserted u JOIN input i USING (internal_id) WHERE u.inserted
                ON CONFLICT (product_id) DO NOTHING
            ), gone AS (
                UPDATE products SET available = false, updated_at = now()
                WHERE available AND from_vendor AND internal_id NOT IN (SELECT internal_id FROM input) RETURNING 1
            )
            \(Self.countsOfUpsertedAndGone)
            """, [PostgresArray(products, \.id), PostgresArray(products, \.sku), PostgresArray(products, \.name), PostgresArray(products, \.brand),
                  PostgresArray(products, \.brandId), PostgresArray(products) { $0.category }, PostgresArray(products, \.country),
                  PostgresArray(products, \.currency), PostgresArray(products, \.minFace), PostgresArray(products, \.maxFace),
                  PostgresArray(products, \.count)]).rows[0]
        return (try Self.counts(productRow, total: products.count), try Self.counts(brandRow, total: brands.count))
    }

    /// The last statement of each save: counts of its `upserted` (with `inserted`) and `gone` rows, read
    /// by ``counts(_:total:)``.
    static let countsOfUpsertedAndGone = """
        SELECT (SELECT count(*) FILTER (WHERE inserted) FROM upserted) AS new_rows,
               (SELECT count(*) FILTER (WHERE NOT inserted) FROM upserted) AS changed, (SELECT count(*) FROM gone) AS unavailable
        """

    static func counts(_ row: PostgresRow, total: Int) throws -> Counts {
        let new: Int = try row.decode("new_rows"), changed: Int = try row.decode("changed")
        return Counts(new: new, changed: changed, unchanged: total - new - changed, unavailable: try row.decode("unavailable"))
    }

    /// Whether a catalog sync from the vendor ever succeeded.
    public static func everSynced(on db: PostgresConnection) throws -> Bool {
        try !db.query("SELECT 1 FROM catalog_syncs WHERE part = 'catalog' AND outcome = 'ok' LIMIT 1").rows.isEmpty
    }
}

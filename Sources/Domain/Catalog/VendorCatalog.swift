import ActorRuntime
import Bridges
import Foundation

/// The vendor's catalog as Troupe keeps it: categories and products upserted by the vendor's internal
/// ids (only rows that changed are written), and stock for a product the first time it is seen.
public struct VendorCatalog: Sendable, Equatable {
    public struct Category: Sendable, Equatable { public let id: String, name: String }
    public struct Product: Sendable, Equatable {
        public let id: String, sku: String, name: String, brand: String, category: String?, country: String, currency: String
        public let minFace: Decimal, maxFace: Decimal, count: Int
    }

    public let categories: [Category]
    public let products: [Product]
    /// Entries left out, with why (a missing field, a number that does not fit): for the log. A bad entry
    /// never fails the sync, let alone traps.
    public var skipped: [String] = []

    public init(categories: [Category], products: [Product], skipped: [String] = []) {
        self.categories = categories
        self.products = products
        self.skipped = skipped
    }

    /// Reads Bamboo's `GET /v2.0/categories` (`[{"Id", "Name"}]`) and `GET /v1.0/catalog`
    /// (`{"Brands": [{"Name", "CountryCode", "CurrencyCode", "Categories": [id], "Products": [{"Id", "Name",
    /// "MinFaceValue", "MaxFaceValue", "Count"}]}]}`); entries with a missing field, or a number that does
    /// not fit (an id that is not a whole number within 64 bits, a count below 0 or over 2^31, a face
    /// value that is not a finite amount), are skipped with the reason.
    public static func parse(categories: JSONValue, catalog: JSONValue) -> VendorCatalog {
        var skipped: [String] = []
        func text(_ v: JSONValue?) -> String? {
            switch v {
            case .string(let s)?: return s.utf8.contains(0) ? nil : s
            case .number(let n)?: return Int64(exactly: n).map(String.init)
            default: return nil
            }
        }
        func number(_ v: JSONValue?) -> Double? { if case .number(let n)? = v { n } else { nil } }
        var cats: [Category] = []
        if case .array(let list) = categories {
            for c in list {
                guard let id = text(c["Id"]), let name = text(c["Name"]) else { skipped.append("category \(c["Id"].map { "\($0)" } ?? "?"): no usable Id and Name"); continue }
                cats.append(Category(id: id, name: name))
            }
        }
        var products: [Product] = []
        if case .array(let brands)? = catalog["Brands"] {
            for b in brands {
                guard let brand = text(b["Name"]), case .array(let items)? = b["Products"] else { continue }
                let country = text(b["CountryCode"]) ?? "", currency = text(b["CurrencyCode"]) ?? "USD"
                var category: String?
                if case .array(let ids)? = b["Categories"] { category = text(ids.first) }
                for p in items {
                    guard let id = text(p["Id"]), let name = text(p["Name"]), let lo = number(p["MinFaceValue"]), let hi = number(p["MaxFaceValue"]),
                          lo > 0, hi >= lo, hi < 1e12, let minFace = Money.parse(String(format: "%.2f", lo)), let maxFace = Money.parse(String(format: "%.2f", hi))
                    else {
                        skipped.append("product \(p["Id"].map { "\($0)" } ?? "?") of \(brand): no usable Id, Name or face values")
                        continue
                    }
                    let count: Int
                    switch p["Count"] {
                    case nil, .null?: count = 0
                    case .number(let n)? where Int32(exactly: n).map({ $0 >= 0 }) == true: count = Int(n)
                    default:
                        skipped.append("product \(id) of \(brand): Count \(p["Count"].map { "\($0)" } ?? "") is not a whole number from 0 to 2^31")
                        continue
                    }
                    let slug = brand.uppercased().filter { $0.isLetter || $0.isNumber }
                    products.append(Product(id: id, sku: "\(slug)-\(country.uppercased())-\(id)", name: name, brand: brand, category: category,
                                            country: country, currency: currency, minFace: minFace, maxFace: maxFace,
                                            count: count))
                }
            }
        }
        return VendorCatalog(categories: cats, products: products, skipped: skipped)
    }

    /// Upserts the catalog in one transaction (one sync at a time: an advisory lock) and records the sync;
    /// returns how many products were inserted or changed.
    @discardableResult
    public func save(on db: PostgresConnection) throws -> Int {
        try db.query("SELECT pg_advisory_xact_lock(hashtext('troupe.catalog-sync'))")
        for c in categories {
            try db.query("""
                INSERT INTO categories (internal_id, name) VALUES ($1, $2)
                ON CONFLICT (internal_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
                WHERE categories.name IS DISTINCT FROM EXCLUDED.name
                """, [c.id, c.name])
        }
        let known = Set(categories.map(\.id))
        var written = 0
        for p in products {
            written += try db.query("""
                INSERT INTO products (internal_id, sku, name, brand, category_id, country, currency, min_face_value, max_face_value)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (internal_id) DO UPDATE SET name = EXCLUDED.name, brand = EXCLUDED.brand, category_id = EXCLUDED.category_id,
                    country = EXCLUDED.country, currency = EXCLUDED.currency, min_face_value = EXCLUDED.min_face_value,
                    max_face_value = EXCLUDED.max_face_value, updated_at = now()
                WHERE (products.name, products.brand, products.category_id, products.country, products.currency, products.min_face_value,
                       products.max_face_value) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.brand, EXCLUDED.category_id, EXCLUDED.country,
                       EXCLUDED.currency, EXCLUDED.min_face_value, EXCLUDED.max_face_value)
                """, [p.id, p.sku, p.name, p.brand, p.category.flatMap { known.contains($0) ? $0 : nil }, p.country, p.currency, p.minFace, p.maxFace])
                .affectedRows
            try db.query("""
                INSERT INTO inventory_stock (product_id, available) SELECT id, $2 FROM products WHERE internal_id = $1
                ON CONFLICT (product_id) DO NOTHING
                """, [p.id, p.count])
        }
        try db.query("INSERT INTO catalog_syncs (categories, products, products_written) VALUES ($1, $2, $3)",
                     [categories.count, products.count, written])
        return written
    }

    /// Whether a sync from the vendor ever succeeded.
    public static func everSynced(on db: PostgresConnection) throws -> Bool {
        try !db.query("SELECT 1 FROM catalog_syncs LIMIT 1").rows.isEmpty
    }
}

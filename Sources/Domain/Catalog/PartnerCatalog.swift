import ActorRuntime
import Bridges
import Crypto
import Foundation

/// `GET /api/brand/getCatalog`: the products a partner can order (those still in the vendor's catalog),
/// with its price for each, the face value range, the brand's categories and whether stock is available.
/// The answer carries an entity tag of its bytes, so a partner polling with `If-None-Match` gets a 304
/// without a body while nothing changed.
public enum PartnerCatalog {
    public static func json(partner: UUID, on db: PostgresConnection) throws -> JSONValue {
        let rows = try db.query("""
            SELECT p.sku, p.name, p.brand, p.country, p.currency, p.min_face_value, p.max_face_value,
                   COALESCE(pp.price_percent, pa.default_price_percent) AS price_percent, COALESCE(s.available, 0) AS available,
                   COALESCE((SELECT string_agg(c.name, chr(31) ORDER BY c.name) FROM brand_categories l
                             JOIN categories c ON c.internal_id = l.category_id AND c.available WHERE l.brand_id = p.brand_id),
                            (SELECT c.name FROM categories c WHERE c.internal_id = p.category_id), '') AS categories
            FROM products p JOIN partners pa ON pa.id = $1
            LEFT JOIN partner_pricing pp ON pp.partner_id = pa.id AND pp.product_id = p.id
            LEFT JOIN inventory_stock s ON s.product_id = p.id
            WHERE p.available
            ORDER BY p.brand, p.sku
            """, [partner]).rows
        return .object(["products": .array(try rows.map { r in
            let percent: Decimal = try r.decode("price_percent")
            let categories = (try r.decode("categories", as: String.self)).split(separator: "\u{1F}").map { JSONValue.string(String($0)) }
            return .object([
                "sku": .string(try r.decode("sku")), "name": .string(try r.decode("name")), "brand": .string(try r.decode("brand")),
                "category": categories.first ?? .null, "categories": .array(categories), "country": .string(try r.decode("country")),
                "currency": .string(try r.decode("currency")),
                "minFaceValue": Money.json(try r.decode("min_face_value")), "maxFaceValue": Money.json(try r.decode("max_face_value")),
                "pricePercent": .number(Double("\(percent)") ?? 0),
                "available": .bool(try r.decode("available", as: Int.self) > 0),
            ])
        })])
    }

    /// A strong entity tag of the answer's bytes (the first 16 bytes of their SHA-256, quoted).
    public static func entityTag(of body: [UInt8]) -> String {
        "\"" + SHA256.hash(data: body).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
    }

    /// Whether an `If-None-Match` header names `tag`: `*`, or one of its comma-separated tags (weak or not).
    public static func matches(_ header: String, _ tag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let t = candidate.trimmingCharacters(in: .whitespaces)
            return t == "*" || t == tag || t == "W/" + tag
        }
    }
}

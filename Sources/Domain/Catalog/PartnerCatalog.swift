import ActorRuntime
import Bridges
import Foundation

/// `GET /api/brand/getCatalog`: the products a partner can order, with its price for each, the face
/// value range and whether stock is available.
public enum PartnerCatalog {
    public static func json(partner: UUID, on db: PostgresConnection) throws -> JSONValue {
        let rows = try db.query("""
            SELECT p.sku, p.name, p.brand, c.name AS category, p.country, p.currency, p.min_face_value, p.max_face_value,
                   COALESCE(pp.price_percent, pa.default_price_percent) AS price_percent, COALESCE(s.available, 0) AS available
            FROM products p JOIN partners pa ON pa.id = $1
            LEFT JOIN partner_pricing pp ON pp.partner_id = pa.id AND pp.product_id = p.id
            LEFT JOIN categories c ON c.internal_id = p.category_id
            LEFT JOIN inventory_stock s ON s.product_id = p.id
            ORDER BY p.brand, p.sku
            """, [partner]).rows
        return .object(["products": .array(try rows.map { r in
            let percent: Decimal = try r.decode("price_percent")
            let category: String? = try r.decode("category")
            return .object([
                "sku": .string(try r.decode("sku")), "name": .string(try r.decode("name")), "brand": .string(try r.decode("brand")),
                "category": category.map(JSONValue.string) ?? .null, "country": .string(try r.decode("country")),
                "currency": .string(try r.decode("currency")),
                "minFaceValue": Money.json(try r.decode("min_face_value")), "maxFaceValue": Money.json(try r.decode("max_face_value")),
                "pricePercent": .number(Double("\(percent)") ?? 0),
                "available": .bool(try r.decode("available", as: Int.self) > 0),
            ])
        })])
    }
}

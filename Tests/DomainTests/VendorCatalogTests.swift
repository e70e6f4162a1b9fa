import ActorRuntime
@testable import Domain
import Foundation
import Testing

/// Issue 16 §6: numbers from the vendor that do not fit are rejected with a reason for that entry, never a
/// trap, so a bad catalog cannot crash-loop a node.
@Suite struct VendorCatalogTests {
    @Test func entriesWithNumbersThatDoNotFitAreSkippedWithAReason() throws {
        let categories = try JSONValue(parsing: Array(#"[{"Id": 1, "Name": "Shopping"}, {"Id": 1e300, "Name": "Huge"}, {"Id": 2.5, "Name": "Half"}]"#.utf8))
        let catalog = try JSONValue(parsing: Array("""
            {"Brands": [{"Name": "Acme", "CountryCode": "US", "CurrencyCode": "USD", "Categories": [1], "Products": [
              {"Id": 10, "Name": "Good", "MinFaceValue": 5, "MaxFaceValue": 50, "Count": 3},
              {"Id": 1e300, "Name": "Id too big", "MinFaceValue": 5, "MaxFaceValue": 50},
              {"Id": 11, "Name": "Negative count", "MinFaceValue": 5, "MaxFaceValue": 50, "Count": -5},
              {"Id": 12, "Name": "Count too big", "MinFaceValue": 5, "MaxFaceValue": 50, "Count": 1e20},
              {"Id": 13, "Name": "Face too big", "MinFaceValue": 5, "MaxFaceValue": 1e300},
              {"Id": 14, "Name": "Fractional count", "MinFaceValue": 5, "MaxFaceValue": 50, "Count": 1.5}
            ]}]}
            """.utf8))
        let parsed = VendorCatalog.parse(categories: categories, catalog: catalog)
        #expect(parsed.categories.map(\.id) == ["1"])
        #expect(parsed.products.map(\.id) == ["10"])
        #expect(parsed.products.first?.count == 3)
        #expect(parsed.skipped.count == 7, "\(parsed.skipped)")
        #expect(parsed.skipped.contains { $0.contains("product 11") && $0.contains("Count") })
    }
}

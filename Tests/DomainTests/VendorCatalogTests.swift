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
        let parsed = VendorCatalog.parse(catalog: catalog), parsedCategories = VendorCatalog.parseCategories(categories)
        #expect(parsedCategories.categories.map(\.id) == ["1"])
        #expect(parsedCategories.skipped.count == 2, "\(parsedCategories.skipped)")
        #expect(parsed.products.map(\.id) == ["10"])
        #expect(parsed.products.first?.count == 3)
        #expect(parsed.skipped.count == 5, "\(parsed.skipped)")
        #expect(parsed.skipped.contains { $0.contains("product 11") && $0.contains("Count") })
    }

    /// Issue 19 §1: the vendor's "wait for X seconds", read robustly; else Retry-After; else the default.
    @Test func aVendorWaitIsReadFromItsTextThenRetryAfterThenTheDefault() {
        let fallback: Duration = .seconds(300)
        func wait(_ message: String?, _ header: String? = nil) -> Int { Int(VendorRetryAfter.parse(message: message, header: header, fallback: fallback).inSeconds) }
        #expect(wait("Too many requests, please wait for 120 seconds") == 120)
        #expect(wait("TOO MANY REQUESTS. Wait for: 90.5 secs") == 90)
        #expect(wait("please wait for 2 minutes") == 120)
        #expect(wait("wait for 1 hour") == 3600)
        #expect(wait("Too many requests, please wait for 1,800 seconds") == 1800, "digit grouping")
        #expect(wait("please wait for 10 seconds", "60") == 60, "both said: the longer")
        #expect(wait("Rate limit exceeded. Try again in 45s.") == 45)
        #expect(wait("wait for 99999999999 seconds") == 86_400, "a garbled number does not stop syncs for years")
        #expect(wait("wait for 0 seconds") == 1)
        #expect(wait("Too many requests", "30") == 30, "no number in the text: Retry-After")
        #expect(wait("Too many requests", "Wed, 21 Oct 2099 07:28:00 GMT") == 86_400)
        #expect(wait("Too many requests", "soon") == 300, "neither: the default")
        #expect(wait(nil) == 300)
    }
}

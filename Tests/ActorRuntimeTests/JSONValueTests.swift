import ActorRuntime
import Foundation
import Testing

/// The hand-written JSON parser and writer, checked against RFC 8259 and against Foundation.
@Suite struct JSONValueTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    func text(_ value: JSONValue) -> String { String(decoding: value.jsonBytes, as: UTF8.self) }

    @Test func parsesEveryKindOfValue() throws {
        let v = try parse(#" { "a" : [1, -2.5, 3e2, 0, -0.0, true, false, null], "b": {"c": "d"}, "e": "" } "#)
        #expect(v == .object([
            "a": .array([.number(1), .number(-2.5), .number(300), .number(0), .number(-0.0), .bool(true), .bool(false), .null]),
            "b": .object(["c": .string("d")]), "e": .string(""),
        ]))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([:]))
        #expect(try parse("\"x\"") == .string("x"))
        #expect(try parse("12345678901234567890") == .number(Double("12345678901234567890")!))
    }

    @Test func decodesEscapesAndUnicode() throws {
        #expect(try parse(#""q\"b\\s\/n\nr\rt\tb\bf\f""#) == .string("q\"b\\s/n\nr\rt\tb\u{8}f\u{c}"))
        #expect(try parse(#""\u00e9\u4e2d\ud83d\ude00""#) == .string("é中😀"))
        #expect(try parse("\"é中😀\"") == .string("é中😀"))
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "{a:1}", "01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "\"abc",
        "\"\u{1}\"", #""\x""#, #""\ud800""#, #""\ud800\u0041""#, #""\udc00""#, "[1] 2", "1 1", "{\"a\" 1}", "1e999",
    ])
    func rejectsWhatTheRFCRejects(input: String) {
        #expect(throws: JSONParseError.self) { try parse(input) }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try parse(String(repeating: "[", count: 600) + String(repeating: "]", count: 600)) }
        #expect((try? parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100))) != nil)
    }

    @Test func errorsSayWhere() {
        do { _ = try parse("[1, 2,, 3]"); Issue.record("parsed") } catch {
            #expect(error.offset == 6)
            #expect(error.description.contains("byte 6"))
        }
    }

    @Test func writesCompactSortedAndEscaped() {
        let v: JSONValue = .object(["b": .number(2), "a": .array([.number(1.5), .null, .bool(true)]),
                                    "s": .string("q\"\\/\n\u{1}é")])
        #expect(text(v) == #"{"a":[1.5,null,true],"b":2,"s":"q\"\\/\n\u0001é"}"#)
        #expect(text(.number(-0.0)) == "0")
        #expect(text(.number(1e15)) == "1000000000000000")
        #expect(text(.number(1e20)) == "1e+20")
        #expect(text(.number(1e300)) == "1e+300")
        #expect(text(.number(.infinity)) == "null")
    }

    @Test func roundTripsAndAgreesWithFoundation() throws {
        let samples: [JSONValue] = [
            .object(["n": .number(0.1), "big": .number(9_007_199_254_740_994), "tiny": .number(.leastNonzeroMagnitude), "neg": .number(-42)]),
            .array([.string("😀 \u{7f} \u{2028}"), .object([:]), .array([])]),
        ]
        for v in samples {
            #expect(try JSONValue(parsing: v.jsonBytes) == v)
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(v.jsonBytes)) == v)
            #expect(try JSONValue(parsing: JSONEncoder().encode(v)) == v)
        }
    }

    @Test func uuidTextRoundTripsAndMatchesFoundation() {
        for _ in 0..<100 {
            let id = UUID()
            #expect(id.lowercasedString == id.uuidString.lowercased())
            #expect(UUID(text: id.uuidString) == id)
            #expect(UUID(text: id.lowercasedString) == id)
        }
        for bad in ["", "0193a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7", "0193a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7bb",
                    "0193a5b27c3d-7e4f-8a1b-2c3d4e5f6a7b0", "0193a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7g"] {
            #expect(UUID(text: bad) == nil, "\(bad)")
        }
    }
}

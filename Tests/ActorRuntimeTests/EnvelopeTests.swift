import ActorRuntime
import Foundation
import Testing

@Suite struct EnvelopeTests {
    let good: [String: Any] = [
        "id": "0193a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", "topic": "order.created", "version": 1,
        "timestamp": "2026-02-19T10:30:00.000Z", "producerId": "order-queue",
        "correlationId": "req-abc123", "payload": ["orderId": "o-1", "amount": 25.5],
    ]

    func data(_ o: [String: Any]) -> Data { try! JSONSerialization.data(withJSONObject: o) }

    func decodeError(_ o: [String: Any]) -> EnvelopeError? {
        do { _ = try Envelope.decode(data(o)); return nil } catch { return error }
    }

    /// The wire contract's limits, decided at the boundary: `correlationId` and `topic` travel as AMQP short
    /// strings (255 bytes at most), the correlation id as visible ASCII (it is also a log field and an HTTP
    /// header); no string may hold NUL, which PostgreSQL cannot store.
    @Test func anEnvelopeOverTheWireLimitsIsRefusedNamingTheField() throws {
        var o = good
        o["correlationId"] = String(repeating: "c", count: 255)
        #expect(decodeError(o) == nil, "255 bytes is within the limit")
        o["correlationId"] = String(repeating: "c", count: 256)
        #expect(decodeError(o)?.field == "correlationId")
        #expect(decodeError(o)?.message.contains("255") == true)
        o["correlationId"] = "req abc"
        #expect(decodeError(o)?.field == "correlationId", "a space is not visible ASCII")
        o["correlationId"] = "req-ü"
        #expect(decodeError(o)?.field == "correlationId")
        o = good
        o["topic"] = String(repeating: "t", count: 255)
        #expect(decodeError(o) == nil)
        o["topic"] = String(repeating: "é", count: 128)             // 256 bytes of UTF-8
        #expect(decodeError(o)?.field == "topic")
        o = good
        o["producerId"] = "order\u{0000}queue"
        #expect(decodeError(o)?.field == "producerId")
        o = good
        o["payload"] = ["items": [["sku": "a\u{0000}b"]]]
        #expect(decodeError(o)?.field == "payload.items[0].sku")
        #expect(decodeError(o)?.message.contains("NUL") == true)
    }

    @Test func decodesTheBriefsExample() throws {
        let e = try Envelope.decode(data(good))
        #expect(e.id.lowercasedString == "0193a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b")
        #expect(e.topic == "order.created")
        #expect(e.version == 1)
        #expect(Timestamp.format(e.timestamp) == "2026-02-19T10:30:00.000Z")
        #expect(e.producerId == "order-queue")
        #expect(e.correlationId == "req-abc123")
        #expect(e.payload["orderId"] == .string("o-1"))
        #expect(e.payload["amount"] == .number(25.5))
    }

    @Test func encodesWithTheContractsFieldNamesAndMillisecondTimestamp() throws {
        let e = Envelope(topic: "payment.debited", timestamp: Date(timeIntervalSince1970: 1_771_497_000.1234),
                         producerId: "payment", correlationId: "c-1", payload: .object(["n": .number(2)]))
        let o = try #require(try JSONSerialization.jsonObject(with: e.jsonData()) as? [String: Any])
        #expect(Set(o.keys) == ["id", "topic", "version", "timestamp", "producerId", "correlationId", "payload"])
        #expect(o["timestamp"] as? String == "2026-02-19T10:30:00.123Z")
        #expect(o["id"] as? String == e.id.lowercasedString)
        #expect(o["version"] as? Int == 1)
        #expect(try Envelope.decode(e.jsonData()) == Envelope(id: e.id, topic: e.topic, timestamp: Date(timeIntervalSince1970: 1_771_497_000.123),
                                                               producerId: "payment", correlationId: "c-1", payload: e.payload))
    }

    @Test func malformedJSONIsRejected() {
        #expect(throws: EnvelopeError(.malformedJSON, field: "", "body is not valid JSON (unexpected end of input at byte 7)")) {
            try Envelope.decode(Data("{\"id\": ".utf8))
        }
        #expect(decodeError(["x": 1])?.code == .missingField)
        #expect((try? Envelope.decode(Data("[1,2]".utf8))) == nil)
    }

    @Test(arguments: ["id", "topic", "version", "timestamp", "producerId", "correlationId", "payload"])
    func aMissingFieldIsNamed(field: String) {
        var o = good
        o.removeValue(forKey: field)
        let error = decodeError(o)
        #expect(error?.code == .missingField)
        #expect(error?.field == field)
        #expect(error?.description == "\(field): is required")
    }

    @Test(arguments: [
        ("id", "42"), ("topic", "[\"a\"]"), ("version", "\"1\""), ("version", "1.5"), ("version", "true"),
        ("timestamp", "17"), ("producerId", "false"), ("correlationId", "3"), ("payload", "\"text\""), ("payload", "[1, 2]"),
    ])
    func aWrongTypeIsNamed(field: String, json: String) throws {
        var o = good
        o[field] = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        let error = decodeError(o)
        #expect(error?.code == .wrongType, "\(field) = \(json)")
        #expect(error?.field == field)
    }

    @Test func invalidValuesAreNamed() {
        var o = good
        o["id"] = "not-a-uuid"
        #expect(decodeError(o)?.field == "id")
        o["id"] = "0193a5b2-7c3d-4e4f-8a1b-2c3d4e5f6a7b"   // a v4 id
        #expect(decodeError(o)?.description == "id: must be a UUIDv7, got version 4")
        o = good
        o["timestamp"] = "yesterday"
        #expect(decodeError(o)?.field == "timestamp")
        o = good
        o["topic"] = ""
        #expect(decodeError(o)?.code == .invalidValue)
    }

    @Test func anUnknownVersionIsRejected() {
        var o = good
        o["version"] = 2
        let error = decodeError(o)
        #expect(error?.code == .unsupportedVersion)
        #expect(error?.description == "version: 2 is not supported (supported: 1)")
        #expect((try? Envelope.decode(data(o), supportedVersions: [1, 2]))?.version == 2)
    }
}

@Suite struct TimestampTests {
    @Test func formatsUTCWithMilliseconds() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
    }

    @Test func parsesZuluOffsetsAndFractions() {
        #expect(Timestamp.parse("2026-02-19T10:30:00.000Z") == Date(timeIntervalSince1970: 1_771_497_000))
        #expect(Timestamp.parse("2026-02-19T11:30:00+01:00") == Date(timeIntervalSince1970: 1_771_497_000))
        #expect(Timestamp.parse("2026-02-19T10:30:00.25Z") == Date(timeIntervalSince1970: 1_771_497_000.25))
        for bad in ["", "2026-02-19", "2026-02-19T10:30:00", "2026-13-01T00:00:00Z", "2026-02-19T10:30:00.Z", "2026-02-19T10:30:00Zx"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}

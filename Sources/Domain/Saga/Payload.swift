import ActorRuntime
import Foundation

/// Reads an envelope's payload fields; a missing or mistyped field is a permanent failure naming it
/// (the message is dead-lettered with the reason: retrying cannot fix it).
struct Payload {
    let envelope: Envelope

    struct Problem: ClassifiedError, CustomStringConvertible {
        let topic: String
        let field: String
        let message: String
        var disposition: FailureDisposition { .permanent }
        var description: String { "\(topic) payload.\(field): \(message)" }
    }

    init(_ envelope: Envelope) { self.envelope = envelope }

    private func value(_ field: String) throws -> JSONValue {
        guard let v = envelope.payload[field], v != .null else { throw Problem(topic: envelope.topic, field: field, message: "is required") }
        return v
    }

    func string(_ field: String) throws -> String {
        guard case .string(let s) = try value(field) else { throw Problem(topic: envelope.topic, field: field, message: "must be a string") }
        return s
    }

    func uuid(_ field: String) throws -> UUID {
        guard let id = UUID(text: try string(field)) else { throw Problem(topic: envelope.topic, field: field, message: "must be a UUID") }
        return id
    }

    func int(_ field: String) throws -> Int {
        guard case .number(let n) = try value(field), n == n.rounded(), abs(n) < 9e15 else {
            throw Problem(topic: envelope.topic, field: field, message: "must be a whole number")
        }
        return Int(n)
    }

    func money(_ field: String) throws -> Decimal {
        guard case .number(let n) = try value(field), let amount = Money.parse(String(format: "%.2f", n)), n >= 0 else {
            throw Problem(topic: envelope.topic, field: field, message: "must be an amount")
        }
        return amount
    }

    /// A reply about `order` in the same flow: same correlation id, produced by `component`, `orderId` plus `fields`.
    static func reply(_ topic: String, to envelope: Envelope, from component: Component, order: UUID,
                      _ fields: [String: JSONValue] = [:]) -> Envelope {
        var payload = fields
        payload["orderId"] = .string(order.lowercasedString)
        return Envelope(topic: topic, producerId: component.rawValue, correlationId: envelope.correlationId, payload: .object(payload))
    }
}

/// Why bytes could not become an ``Envelope``. Each case names the field, so a dead-lettered message's
/// `x-error` header says exactly what was wrong.
public struct EnvelopeError: Error, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable { case malformedJSON, missingField, wrongType, invalidValue, unsupportedVersion }

    /// What kind of problem.
    public let code: Code
    /// The envelope field at fault (empty for malformed JSON).
    public let field: String
    /// A sentence for operators.
    public let message: String

    public init(_ code: Code, field: String, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

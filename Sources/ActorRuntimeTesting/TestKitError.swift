/// Why an expectation of the test kit failed.
public struct TestKitError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

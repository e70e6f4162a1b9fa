/// An error the CLI reports as one line, with its exit code.
struct CLIError: Error {
    let message: String
    let exitCode: Int32

    /// Bad command-line input or topology: exit 2.
    static func usage(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }

    /// The command exists but its work lands in a later issue: exit 69 (EX_UNAVAILABLE), said plainly.
    static func notYetAvailable(_ command: String, _ lands: String) -> CLIError {
        CLIError(message: "'\(command)' is not available yet: \(lands).", exitCode: 69)
    }
}

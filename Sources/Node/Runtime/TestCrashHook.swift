import ActorRuntime
import Bridges
import Foundation

/// For the tests of the quarantine only (issue 21): with `TROUPE_TEST_CRASH_HOOK=1` in a node's environment, an
/// envelope whose payload has `"troupeTestCrash": true` traps the process in its handler, as a crash bug would.
/// Without the variable the handler is returned as it is.
enum TestCrashHook {
    static let variable = "TROUPE_TEST_CRASH_HOOK"

    static func wrap(_ handler: @escaping EnvelopeConsumer.Handler) -> EnvelopeConsumer.Handler {
        guard ProcessInfo.processInfo.environment[variable] == "1" else { return handler }
        return { envelope, context in
            if envelope.payload["troupeTestCrash"] == .bool(true) { fatalError("\(variable): crashing on envelope \(envelope.id.lowercasedString)") }
            try handler(envelope, context)
        }
    }
}

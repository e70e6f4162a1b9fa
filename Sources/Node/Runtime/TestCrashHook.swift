import ActorRuntime
import Bridges
import Foundation

/// For the tests of issue 21 only: with `TROUPE_TEST_CRASH_HOOK=1` in a node's environment, an envelope whose
/// payload has `"troupeTestCrash": "<component>"` traps the process in that component's handler, as a crash bug
/// would; `"troupeTestSlow": "<component>"` makes that handler take 3 s; `"troupeTestHang": "<component>"` blocks
/// that handler's thread for good, deaf to shutdown and cancellation, as a handler stuck in a call would. Without the variable the handler is returned as it is.
enum TestCrashHook {
    static let variable = "TROUPE_TEST_CRASH_HOOK"

    static func wrap(_ handler: @escaping EnvelopeConsumer.Handler, component: String) -> EnvelopeConsumer.Handler {
        guard ProcessInfo.processInfo.environment[variable] == "1" else { return handler }
        return { envelope, context in
            if envelope.payload["troupeTestCrash"] == .string(component) {
                fatalError("\(variable): crashing \(component) on envelope \(envelope.id.lowercasedString)")
            }
            if envelope.payload["troupeTestSlow"] == .string(component) {
                FileHandle.standardError.write(Data("\(variable): slow \(component) on envelope \(envelope.id.lowercasedString)\n".utf8))
                Thread.sleep(forTimeInterval: 3)
            }
            if envelope.payload["troupeTestHang"] == .string(component) {
                FileHandle.standardError.write(Data("\(variable): hanging \(component) on envelope \(envelope.id.lowercasedString)\n".utf8))
                while true { sleep(3600) }
            }
            try handler(envelope, context)
        }
    }
}

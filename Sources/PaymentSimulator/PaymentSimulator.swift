import ActorRuntime
import ArgumentParser
import Foundation
import Hummingbird

/// `troupe-payment-sim`: a stand-in for a Stripe-shaped payment provider. It creates payment intents
/// (`POST /v1/payment_intents`, Bearer secret key, `Idempotency-Key` honoured) and settles them on a command
/// (`POST /sim/intents/{id}/succeed|fail`) or after `--auto-confirm-ms`, sending `payment_intent.succeeded` /
/// `payment_intent.payment_failed` to the webhook URL signed as Stripe signs (`Stripe-Signature: t=...,v1=...`),
/// retrying a webhook the receiver did not answer 2xx. `GET /sim/stats` counts intents and deliveries.
@main
struct PaymentSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "troupe-payment-sim", abstract: "A simulated payment provider for demos and tests.")

    @Option(help: "Listen address.") var host = "127.0.0.1"
    @Option(help: "Listen port.") var port = 8091
    @Option(help: "The secret key callers send as a Bearer token; PAYMENT_SIM_SECRET_KEY overrides it.")
    var secretKey = ProcessInfo.processInfo.environment["PAYMENT_SIM_SECRET_KEY"] ?? "sk_test_troupe"
    @Option(help: "Where webhooks go (e.g. http://127.0.0.1:8080/v1/webhooks/payments); none: no webhooks.") var webhookURL: String?
    @Option(help: "The webhooks' signing secret; PAYMENT_SIM_WEBHOOK_SECRET overrides it.")
    var webhookSecret = ProcessInfo.processInfo.environment["PAYMENT_SIM_WEBHOOK_SECRET"] ?? "whsec_troupe_development"
    @Option(help: "Settle every intent this many milliseconds after it was created (0: only on command).") var autoConfirmMs = 0
    @Option(help: "How an automatic settlement ends: succeeded or failed.") var autoOutcome = "succeeded"
    @Option(help: "The first retry of an unanswered webhook after this many milliseconds, doubling.") var retryMs = 1000
    @Option(help: "Attempts per webhook, in all.") var attempts = 8

    func validate() throws {
        guard (1...65_535).contains(port) else { throw ValidationError("--port: must be between 1 and 65535") }
        guard ["succeeded", "failed"].contains(autoOutcome) else { throw ValidationError("--auto-outcome: must be succeeded or failed") }
        guard autoConfirmMs >= 0, retryMs >= 1, (1...100).contains(attempts) else {
            throw ValidationError("--auto-confirm-ms must not be negative, --retry-ms must be at least 1, --attempts from 1 to 100")
        }
        if let webhookURL, URL(string: webhookURL)?.host == nil { throw ValidationError("--webhook-url: '\(webhookURL)' is not an http:// URL") }
    }

    func run() async throws {
        let sender = WebhookSender(url: webhookURL, secret: webhookSecret, firstRetry: .milliseconds(retryMs), attempts: attempts)
        let state = ProviderState(sender: sender, autoConfirm: autoConfirmMs > 0 ? .milliseconds(autoConfirmMs) : nil,
                                  autoSucceeds: autoOutcome == "succeeded")
        let router = Router()
        ProviderRoutes(state: state, secretKey: secretKey).add(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "payment-sim"))
        OrphanWatch.start()                                     // started by `troupe up`: stop when it is gone
        try await app.runService()
    }
}

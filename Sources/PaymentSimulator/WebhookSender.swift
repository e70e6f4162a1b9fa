import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Synchronization

/// Sends the provider's events to the webhook URL, signed as Stripe signs: `Stripe-Signature:
/// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, signed again at each attempt. A delivery the
/// receiver does not answer 2xx is retried after `firstRetry`, doubling, `attempts` times in all.
final class WebhookSender: Sendable {
    let url: String?
    let secret: String
    let firstRetry: Duration
    let attempts: Int
    /// Deliveries tried, and answered 2xx.
    let counts = Mutex((tried: 0, delivered: 0))

    init(url: String?, secret: String, firstRetry: Duration, attempts: Int) {
        self.url = url
        self.secret = secret
        self.firstRetry = firstRetry
        self.attempts = attempts
    }

    func send(_ body: [UInt8]) {
        guard let url else { return }
        Task {
            var delay = firstRetry
            for attempt in 1...attempts {
                if await deliver(body, to: url) { return }
                if attempt < attempts { try? await Task.sleep(for: delay) }
                delay = delay * 2
            }
        }
    }

    private func deliver(_ body: [UInt8], to url: String) async -> Bool {
        counts.withLock { $0.tried += 1 }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "stripe-signature", value: Self.signature(body, secret: secret, at: Date()))
        request.body = .bytes(ByteBuffer(bytes: body))
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 20)
        let ok = (200..<300).contains(Int(response.status.code))
        if ok { counts.withLock { $0.delivered += 1 } }
        return ok
    }

    static func signature(_ body: [UInt8], secret: String, at time: Date) -> String {
        let t = Int(time.timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(t).".utf8) + body, using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(t),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}

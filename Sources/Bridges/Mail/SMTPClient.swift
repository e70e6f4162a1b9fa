import CCurl
import Foundation
import Synchronization

/// Sends email over SMTP with libcurl (a kept client, not hand-written protocol code): one blocking
/// session per message, on a thread of its own, never on Swift's cooperative pool.
public final class SMTPClient: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// `smtp://host:port` (STARTTLS used when the server offers it) or `smtps://host:port`.
        public var url: String
        /// The envelope sender and `From:` address.
        public var from: String
        public var username: String?
        public var password: String?
        /// The whole session's limit.
        public var timeout: Duration = .seconds(30)

        public init(url: String, from: String, username: String? = nil, password: String? = nil) {
            self.url = url
            self.from = from
            self.username = username
            self.password = password
        }
    }

    public let configuration: Configuration

    /// libcurl's global state, set up once before the first session (it is not thread-safe).
    private static let initialised: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Sends `message`; throws an ``SMTPError`` saying whether trying again may help. Cancelling the caller
    /// returns at once with `CancellationError` (the session's thread finishes on its own, its outcome
    /// unknown: the delivery is sent again later).
    public func send(_ message: EmailMessage) async throws {
        let configuration = self.configuration
        let bytes = try message.rfc5322(from: configuration.from)
        let outcome = Outcome()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                guard outcome.set(c) else { return c.resume(throwing: CancellationError()) }
                DedicatedThread.start("troupe.smtp") {
                    outcome.finish(Result { try Self.perform(bytes, to: message.to, configuration) })
                }
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    /// Resumes the caller once: with the session's result, or at cancellation, whichever comes first.
    private final class Outcome: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<Void, any Error>?, finished: Result<Void, any Error>?)>((nil, nil))

        /// False when it already finished (cancelled before it began).
        func set(_ c: CheckedContinuation<Void, any Error>) -> Bool {
            state.withLock { s in
                guard s.finished == nil else { return false }
                s.continuation = c
                return true
            }
        }

        func finish(_ result: Result<Void, any Error>) {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard s.finished == nil else { return nil }
                s.finished = result
                defer { s.continuation = nil }
                return s.continuation
            }
            c?.resume(with: result)
        }
    }

    private final class Upload {
        let bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    private static func perform(_ bytes: [UInt8], to recipient: String, _ configuration: Configuration) throws {
        guard initialised, let curl = curl_easy_init() else { throw SMTPError(code: nil, message: "libcurl could not be initialised", permanent: false) }
        defer { curl_easy_cleanup(curl) }
        var recipients: UnsafeMutablePointer<curl_slist>? = nil
        recipients = curl_slist_append(recipients, "<\(recipient)>")
        defer { curl_slist_free_all(recipients) }
        let upload = Upload(bytes)
        try withExtendedLifetime(upload) {
            var code = troupe_curl_set_string(curl, CURLOPT_URL, configuration.url)
            if code == CURLE_OK { code = troupe_curl_set_string(curl, CURLOPT_MAIL_FROM, "<\(configuration.from)>") }
            if code == CURLE_OK { code = troupe_curl_set_list(curl, CURLOPT_MAIL_RCPT, recipients) }
            if code == CURLE_OK, let user = configuration.username { code = troupe_curl_set_string(curl, CURLOPT_USERNAME, user) }
            if code == CURLE_OK, let password = configuration.password { code = troupe_curl_set_string(curl, CURLOPT_PASSWORD, password) }
            // With credentials, TLS is required (AUTH must never go in the clear); without, it is used when offered.
            let tls = configuration.username != nil || configuration.password != nil ? CURLUSESSL_ALL : CURLUSESSL_TRY
            if code == CURLE_OK { code = troupe_curl_set_long(curl, CURLOPT_USE_SSL, Int(tls.rawValue)) }
            if code == CURLE_OK { code = troupe_curl_set_long(curl, CURLOPT_TIMEOUT_MS, Int(configuration.timeout.inSeconds * 1000)) }
            if code == CURLE_OK { code = troupe_curl_set_long(curl, CURLOPT_NOSIGNAL, 1) }
            if code == CURLE_OK { code = troupe_curl_set_long(curl, CURLOPT_UPLOAD, 1) }
            if code == CURLE_OK { code = troupe_curl_set_read_function(curl, Self.read) }
            if code == CURLE_OK { code = troupe_curl_set_pointer(curl, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque()) }
            guard code == CURLE_OK else { throw SMTPError(code: nil, message: "libcurl option refused: \(String(cString: curl_easy_strerror(code)))", permanent: true) }
            let result = curl_easy_perform(curl)
            guard result != CURLE_OK else { return }
            var reply = 0
            _ = troupe_curl_response_code(curl, &reply)
            // 5xx: the server refused for good (no such mailbox, not allowed); anything else may pass later.
            throw SMTPError(code: reply == 0 ? nil : reply, message: String(cString: curl_easy_strerror(result)), permanent: reply >= 500 && reply < 600)
        }
    }

    private static let read: troupe_curl_read_callback = { buffer, size, count, context in
        guard let buffer, let context else { return 0 }
        let upload = Unmanaged<Upload>.fromOpaque(context).takeUnretainedValue()
        let n = min(size * count, upload.bytes.count - upload.offset)
        guard n > 0 else { return 0 }
        upload.bytes.withUnsafeBufferPointer { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + upload.offset, byteCount: n)
        }
        upload.offset += n
        return n
    }
}

/// An SMTP session that failed: the server's reply code when it gave one, and whether it is final.
public struct SMTPError: Error, CustomStringConvertible {
    public let code: Int?
    public let message: String
    /// The server refused the message for good (5xx), or it cannot be sent as it is.
    public let permanent: Bool
    public var description: String { code.map { "SMTP \($0): \(message)" } ?? "SMTP: \(message)" }
}

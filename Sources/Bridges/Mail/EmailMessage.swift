import Foundation

/// A plain-text email, formatted as RFC 5322 for ``SMTPClient``. Addresses and the subject are refused
/// when they hold CR or LF (a header injection), never cut.
public struct EmailMessage: Sendable, Equatable {
    public var to: String
    public var subject: String
    public var body: String
    /// Without angle brackets, e.g. `<event id>.<channel>@troupe`: the same for every attempt of a delivery.
    public var messageID: String

    public init(to: String, subject: String, body: String, messageID: String) {
        self.to = to
        self.subject = subject
        self.body = body
        self.messageID = messageID
    }

    /// True for `local@domain` without spaces, CR, LF or angle brackets (what Troupe accepts as a recipient).
    public static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              text.utf8.count <= 254 else { return false }
        return text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7f && !"<>(),;:\\\"[]".unicodeScalars.contains($0) }
    }

    func rfc5322(from: String, date: Date = Date()) throws(SMTPError) -> [UInt8] {
        for (name, value) in [("to", to), ("from", from), ("subject", subject), ("message id", messageID)]
        where value.contains("\r") || value.contains("\n") {
            throw SMTPError(code: nil, message: "the \(name) holds a line break", permanent: true)
        }
        guard Self.isAddress(to) else { throw SMTPError(code: nil, message: "'\(to)' is not an email address", permanent: true) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let encodedSubject = subject.unicodeScalars.allSatisfy(\.isASCII) ? subject : "=?UTF-8?B?\(Data(subject.utf8).base64EncodedString())?="
        var lines = [
            "Date: \(formatter.string(from: date))", "From: \(from)", "To: \(to)", "Subject: \(encodedSubject)",
            "Message-ID: <\(messageID)>", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
        ]
        lines += body.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }
}

import ActorRuntime
import Foundation
import Mustache

/// Notification's templates (swift-mustache), one per event, versioned in the repository under
/// `Sources/Domain/Notification/Templates/<topic with - for .>.mustache`. A template's first line is the
/// subject (an email's `Subject:`, a webhook's `subject`), the rest the text.
public struct NotificationTemplates: Sendable {
    /// A notification that cannot be made: no template for the event, or one that renders no subject. A
    /// permanent failure: the event is dead-lettered with this reason.
    public struct Problem: ClassifiedError, CustomStringConvertible {
        public let description: String
        public var disposition: FailureDisposition { .permanent }
    }

    private let library: MustacheLibrary

    /// The templates shipped with Troupe.
    public static func bundled() throws -> NotificationTemplates {
        guard let directory = Bundle.module.url(forResource: "Templates", withExtension: nil) else {
            throw Problem(description: "the Domain bundle has no Templates folder")
        }
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "mustache" }
        var texts: [String: String] = [:]
        for file in files { texts[file.deletingPathExtension().lastPathComponent] = try String(contentsOf: file, encoding: .utf8) }
        return try NotificationTemplates(texts)
    }

    /// Templates from their texts, by name (`order-completed`); a text that does not parse is refused here.
    public init(_ texts: [String: String]) throws {
        var library = MustacheLibrary()
        for (name, text) in texts {
            do { try library.register(text, named: name) } catch {
                throw Problem(description: "template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// The template's name for `topic`: `order.completed` -> `order-completed`.
    public static func name(for topic: String) -> String { topic.replacingOccurrences(of: ".", with: "-") }

    /// Renders the template of `topic` with `data` into a subject and a text.
    public func render(_ topic: String, _ data: [String: String]) throws -> (subject: String, text: String) {
        let name = Self.name(for: topic)
        guard let rendered = library.render(data, withTemplate: name) else { throw Problem(description: "no notification template '\(name)'") }
        // Split and trimmed by hand: Foundation's character-set trimming cost more than the render.
        let utf8 = rendered.utf8
        let end = utf8.firstIndex(of: 10) ?? utf8.endIndex
        let subject = Self.trimmed(rendered[..<end], dropping: [32, 9, 13])
        guard !subject.isEmpty else { throw Problem(description: "template \(name) rendered no subject (its first line)") }
        let text = end == utf8.endIndex ? "" : Self.trimmed(rendered[utf8.index(after: end)...], dropping: [10, 13])
        return (subject, text)
    }

    private static func trimmed(_ text: Substring, dropping bytes: Set<UInt8>) -> String {
        var utf8 = text.utf8[...]
        while let first = utf8.first, bytes.contains(first) { utf8 = utf8.dropFirst() }
        while let last = utf8.last, bytes.contains(last) { utf8 = utf8.dropLast() }
        return String(Substring(utf8))
    }
}

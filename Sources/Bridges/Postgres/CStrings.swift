import Foundation

/// C string arrays for libpq calls, allocated for the call and freed after it.
enum CStrings {
    /// A NULL-terminated array of C strings.
    static func with<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) } + [nil]
        defer { for p in copies { free(p) } }
        return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// An array of C strings where nil stays NULL (SQL NULL parameters).
    static func withOptional<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let copies = strings.map { $0.map { strdup($0) } ?? nil }
        defer { for p in copies { free(p) } }
        return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

/// COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
enum CopyText {
    static func append(_ value: String?, to buffer: inout [UInt8]) {
        guard let value else { buffer.append(contentsOf: [92, 78]); return }      // \N
        for b in value.utf8 {
            switch b {
            case 92: buffer.append(contentsOf: [92, 92])
            case 9: buffer.append(contentsOf: [92, 116])
            case 10: buffer.append(contentsOf: [92, 110])
            case 13: buffer.append(contentsOf: [92, 114])
            default: buffer.append(b)
            }
        }
    }
}

/// Reads the first column of each record of a CSV file fed in chunks, so a file of any size is read in flat
/// memory. RFC 4180 with the usual leniencies: fields may be quoted (`""` is a quote; commas and line breaks
/// inside quotes are data), records end with CRLF, LF or a lone CR, a UTF-8 byte order mark at the start is
/// skipped, blank lines are skipped, and spaces and tabs around an unquoted field are trimmed. There is no
/// header row: every record is a code.
///
/// A record whose first field is not a valid code (empty, longer than ``CodePool/maxCodeLength`` bytes, not
/// UTF-8, a NUL, text after its closing quote, a quote left open at the end) is counted in ``badRows`` and
/// skipped; it never stops the file.
public struct CSVFirstColumn: Sendable {
    /// Records skipped because their first field is not a valid code.
    public private(set) var badRows = 0

    private enum State: Sendable {
        case recordStart            // nothing of this record read yet
        case unquoted               // in the first field, unquoted
        case quoted                 // in the first field, inside quotes
        case quoteInQuoted          // in the quoted first field, just after a quote: "" or the end of the field
        case afterQuoted            // past the first field's closing quote: only blanks until the comma
        case restFieldStart         // at the start of a later column (blanks allowed): a quote opens it
        case rest                   // in a later column, unquoted: a quote is data
        case restQuoted             // in a quoted later column
        case restQuoteInQuoted      // in a quoted later column, just after a quote
    }

    private var state = State.recordStart
    private var field: [UInt8] = []
    private var bad = false                 // this record's first field is already known to be bad
    private var wasQuoted = false           // this record's first field was quoted (kept as it is, not trimmed)
    private var afterCR = false             // the last byte ended a record with CR: a following LF belongs to it
    private var started = false             // past the byte order mark's place
    private var bom: [UInt8] = []

    public init() {}

    /// Reads `bytes`, the next part of the file, calling `emit` with each complete record's code.
    public mutating func feed(_ bytes: some Sequence<UInt8>, _ emit: (String) throws -> Void) rethrows {
        for byte in bytes {
            if !started {
                // A UTF-8 byte order mark (EF BB BF) at the very start is not data.
                if bom.count < 3 && byte == [0xEF, 0xBB, 0xBF][bom.count] {
                    bom.append(byte)
                    if bom.count == 3 { started = true; bom = [] }
                    continue
                }
                try startAfterPartialBOM(emit)
            }
            try take(byte, emit)
        }
    }

    /// Past the byte order mark's place: bytes that began like a mark but were not one are data.
    private mutating func startAfterPartialBOM(_ emit: (String) throws -> Void) rethrows {
        started = true
        let held = bom
        bom = []
        for b in held { try take(b, emit) }
    }

    /// Ends the file: the last record need not end with a line break. A quote left open makes it a bad row.
    public mutating func finish(_ emit: (String) throws -> Void) rethrows {
        if !started { try startAfterPartialBOM(emit) }
        switch state {
        case .recordStart: break
        case .quoted, .restQuoted:
            badRows += 1
            reset()
        default: try endRecord(emit)
        }
    }

    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")

    private mutating func take(_ byte: UInt8, _ emit: (String) throws -> Void) rethrows {
        if afterCR {
            afterCR = false
            if byte == Self.lf { return }
        }
        switch state {
        case .recordStart, .unquoted:
            switch byte {
            case Self.quote where state == .recordStart:
                wasQuoted = true
                state = .quoted
            case Self.comma: state = .restFieldStart
            case Self.cr, Self.lf: try lineBreak(byte, emit)
            case let blank where state == .recordStart && (blank == UInt8(ascii: " ") || blank == UInt8(ascii: "\t")):
                break                       // leading blanks: not kept
            default:
                append(byte)
                state = .unquoted
            }
        case .quoted:
            if byte == Self.quote { state = .quoteInQuoted } else { append(byte) }
        case .quoteInQuoted:
            switch byte {
            case Self.quote:
                append(byte)
                state = .quoted
            case Self.comma: state = .restFieldStart
            case Self.cr, Self.lf: try lineBreak(byte, emit)
            case UInt8(ascii: " "), UInt8(ascii: "\t"): state = .afterQuoted
            default:
                bad = true                  // text after the closing quote
                state = .rest
            }
        case .afterQuoted:
            switch byte {
            case Self.comma: state = .restFieldStart
            case Self.cr, Self.lf: try lineBreak(byte, emit)
            case UInt8(ascii: " "), UInt8(ascii: "\t"): break
            default:
                bad = true                  // text (a quote included) after the closing quote
                state = .rest
            }
        case .restFieldStart:
            switch byte {
            case Self.quote: state = .restQuoted
            case Self.cr, Self.lf: try lineBreak(byte, emit)
            case Self.comma, UInt8(ascii: " "), UInt8(ascii: "\t"): break
            default: state = .rest
            }
        case .rest:
            switch byte {
            case Self.comma: state = .restFieldStart
            case Self.cr, Self.lf: try lineBreak(byte, emit)
            default: break
            }
        case .restQuoted:
            if byte == Self.quote { state = .restQuoteInQuoted }
        case .restQuoteInQuoted:
            switch byte {
            case Self.quote: state = .restQuoted
            case Self.comma: state = .restFieldStart
            case Self.cr, Self.lf: try lineBreak(byte, emit)
            default: state = .rest
            }
        }
    }

    private mutating func lineBreak(_ byte: UInt8, _ emit: (String) throws -> Void) rethrows {
        afterCR = byte == Self.cr
        try endRecord(emit)
    }

    /// Keeps at most twice the longest code (room for trailing blanks): a longer field is bad whatever its length.
    private mutating func append(_ byte: UInt8) {
        if field.count < 2 * CodePool.maxCodeLength { field.append(byte) } else { bad = true }
    }

    private mutating func endRecord(_ emit: (String) throws -> Void) rethrows {
        defer { reset() }
        if state == .recordStart { return }         // a blank line
        var bytes = field[...]
        if !wasQuoted {
            while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes = bytes.dropLast() }
        }
        guard !bad, let code = String(validating: bytes, as: UTF8.self), CodePool.isValid(code) else {
            badRows += 1
            return
        }
        try emit(code)
    }

    private mutating func reset() {
        state = .recordStart
        field.removeAll(keepingCapacity: true)
        bad = false
        wasQuoted = false
    }
}

@testable import Domain
import Testing

/// Issue 20 §1: the upload's CSV reading, edge cases one by one and in any chunking.
@Suite struct CSVFirstColumnTests {
    /// The codes and the bad rows of `bytes`, fed in chunks of `chunk` bytes.
    func read(_ bytes: [UInt8], chunk: Int = 1 << 16) -> (codes: [String], bad: Int) {
        var reader = CSVFirstColumn()
        var codes: [String] = []
        var offset = 0
        while offset < bytes.count {
            reader.feed(bytes[offset..<min(offset + chunk, bytes.count)]) { codes.append($0) }
            offset += chunk
        }
        reader.finish { codes.append($0) }
        return (codes, reader.badRows)
    }

    func read(_ text: String) -> (codes: [String], bad: Int) { read(Array(text.utf8)) }

    @Test func lineEndingsAByteOrderMarkAndBlankLines() {
        #expect(read("A1\nA2\r\nA3\rA4").codes == ["A1", "A2", "A3", "A4"], "LF, CRLF, a lone CR, no break at the end")
        #expect(read([0xEF, 0xBB, 0xBF] + Array("A1,x\nA2\n".utf8)).codes == ["A1", "A2"])
        let blank = read("\n\nA\n  \n\r\nB\n\n")
        #expect(blank.codes == ["A", "B"] && blank.bad == 0)
        #expect(read("").codes.isEmpty && read("").bad == 0)
    }

    @Test func quotedFieldsKeepCommasQuotesAndLineBreaks() {
        #expect(read("\"A,1\",x\n\"B\"\"2\"\n\"C\r\n3\"\n").codes == ["A,1", "B\"2", "C\r\n3"])
        #expect(read("  A1 \t,x\n\" A \"\n").codes == ["A1", " A "], "unquoted fields trimmed, quoted ones kept")
        #expect(read("A,\"x\ny,\"\"z\"\"\"\nB\n").codes == ["A", "B"], "a later column's quotes hide its line break")
    }

    @Test func badRowsAreCountedAndSkipped() {
        let long = String(repeating: "x", count: CodePool.maxCodeLength + 1)
        let text = ",x\n\"\"\nOK1\n\"A\"junk\n\(long)\nOK2\n"
        let result = read(Array(text.utf8) + [0xFF, 0x41, 0x0A] + Array("NUL\u{0}\nOK3\n\"open".utf8))
        #expect(result.codes == ["OK1", "OK2", "OK3"])
        #expect(result.bad == 7, "empty, empty quoted, text after the quote, too long, not UTF-8, a NUL, a quote left open")
        #expect(read(String(repeating: "y", count: CodePool.maxCodeLength)).codes.count == 1, "the longest code is kept")
    }

    @Test func anyChunkingReadsTheSame() {
        let bytes = [0xEF, 0xBB, 0xBF] + Array("A1,\"x\r\ny\"\r\n\"B,2\"\r\n\r\n C3 \rD\"4\n\"E\"\"5\"".utf8)
        let whole = read(bytes)
        #expect(whole.codes == ["A1", "B,2", "C3", "D\"4", "E\"5"] && whole.bad == 0)
        for chunk in 1...7 {
            let parts = read(bytes, chunk: chunk)
            #expect(parts.codes == whole.codes && parts.bad == whole.bad, "chunks of \(chunk)")
        }
    }

    /// From the review: a quote inside a later column is data (it used to open a quote that swallowed the rest of
    /// the file); a quote after a closing quote and a blank makes the row bad (it used to be taken as `""`);
    /// blanks around a code do not count against its length.
    @Test func aQuoteInsideALaterColumnIsDataAndTextAfterAClosingQuoteIsBad() {
        let screen = read("A,5\" screen,x\nB\nC\n")
        #expect(screen.codes == ["A", "B", "C"] && screen.bad == 0)
        let spaced = read("\"AB\" \"C\"\nD\n")
        #expect(spaced.codes == ["D"] && spaced.bad == 1)
        #expect(read("\"AB\"  ,x\n").codes == ["AB"], "blanks after the closing quote")
        let longest = String(repeating: "z", count: CodePool.maxCodeLength)
        #expect(read("  \(longest)  ,x\n" + String(repeating: " ", count: 300) + "\"Q\"\n").codes == [longest, "Q"])
    }
}

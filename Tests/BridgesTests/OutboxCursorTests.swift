@testable import Bridges
import Testing

@Suite struct OutboxCursorTests {
    @Test func batchesStartAfterWhatWasPublishedLongEnoughAgoAndPeriodicallyFromTheBeginning() {
        var cursor = OutboxCursor()
        let t0 = ContinuousClock.now
        #expect(cursor.start(at: t0) == 0, "the first batch looks at the whole table")
        cursor.published(upTo: 100, at: t0)
        #expect(cursor.start(at: t0 + .seconds(1)) == 0, "100 was published too recently: a lower seq may still commit")
        cursor.published(upTo: 250, at: t0 + .seconds(2))
        #expect(cursor.start(at: t0 + .seconds(5)) == 100, "published 5 s ago")
        #expect(cursor.start(at: t0 + .seconds(7)) == 250)
        #expect(cursor.start(at: t0 + .seconds(9.9)) == 250)
        #expect(cursor.start(at: t0 + .seconds(10)) == 0, "every 10 s from the beginning, for rows of long transactions")
        #expect(cursor.start(at: t0 + .seconds(11)) == 250, "and then from the floor again")
    }
}

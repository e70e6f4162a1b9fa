-- A provider event keeps what it said (the amount and currency it reports, a failure's reason), so one that
-- arrived before its intent was recorded is applied when the intent is, and a credit can be checked against
-- the intent's amount.
ALTER TABLE payment_events
    ADD COLUMN amount          numeric(14,2),
    ADD COLUMN currency        text,
    ADD COLUMN failure_message text;

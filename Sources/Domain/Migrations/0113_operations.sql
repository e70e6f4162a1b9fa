-- Operations jobs (issue 19): the state of each alert condition, so the same condition does not alert at
-- every run (raised again after a quiet period, or as a reminder), and each node's circuit breakers as it
-- last reported them (the admin alerts read the vendor's).
CREATE TABLE alert_states (
    condition  text        PRIMARY KEY,
    scope      text        NOT NULL,               -- the job that checks it
    raised_at  timestamptz NOT NULL,               -- when it last alerted
    seen_at    timestamptz NOT NULL,               -- when a run last found it
    cleared_at timestamptz,                        -- when a run first found it gone (NULL while it holds)
    message    text        NOT NULL
);

CREATE TABLE troupe_breakers (
    node        text        NOT NULL,
    name        text        NOT NULL,
    open        boolean     NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node, name)
);

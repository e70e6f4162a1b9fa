-- Recurring jobs (issue 5): when each last ran. A node runs a job only when it takes the job's advisory
-- lock and the last run is at least one period old, so a job runs once per period across all nodes.
CREATE TABLE schedule_runs (
    job         text        PRIMARY KEY,
    last_run_at timestamptz NOT NULL
);

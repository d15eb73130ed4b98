-- Plain PostgreSQL (no TimescaleDB): time-range scans use a BRIN index; retention is run by the app.
CREATE INDEX heartbeats_time_brin_idx ON heartbeats USING brin (time);
CREATE INDEX presence_events_time_brin_idx ON presence_events USING brin (time);

-- ts_relative: timestamps of a batch with relative timestamps (µs since the file's base time).
-- The `timed` step of events.sql for the relative variant (duckjson.events_sql picks it;
-- ts_text.sql is the other choice): every row of `raw` plus
--   ts_ns     us_to_ns(ts) (macros.sql): a double holds a relative µs value exactly, so the
--             value read_json parsed is enough (no second read of the batch text)
SELECT *, us_to_ns(ts) AS ts_ns
FROM raw

-- ts_text: timestamps of a batch with absolute timestamps, read digit for digit.
-- The `timed` step of events.sql for the two absolute variants (duckjson.events_sql picks it;
-- ts_relative.sql is the other choice): every row of `raw` plus
--   ts_text   the event's ts exactly as written (optionally quoted, exponent allowed); NULL
--             when absent
--   ts_ns     ts_exact(ts_text, ts) (macros.sql): exact integer ns of that text; raises when
--             read_json found a ts but the text has none (a spelling the pattern does not know)
-- A double cannot hold a 19-digit epoch µs value with three decimals, and DuckDB's reader
-- hands numbers over as doubles whatever the column type, so the digits are taken from the
-- event's own text instead: read_json_objects reads the same batch file ($source), one row per
-- event in the same order (one thread, insertion order kept; read_json has already refused a
-- batch with an element that is not an object), and a regular expression takes the first
-- "ts" value of the object — Kineto writes ts before args, and a key inside a string
-- cannot match because its quotes are escaped there. RE2 in C++: no Python pass over the
-- batch text, no GIL (the orjson path quotes ts with timestamps.quote_times instead).
SELECT *, ts_exact(ts_text, ts) AS ts_ns
FROM raw
POSITIONAL JOIN (
    SELECT regexp_extract(json, '"ts"\s*:\s*"?(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)', 1) AS ts_text
    FROM read_json_objects($source, format = 'array')
)

-- macros used by events.sql (created once per parser connection).
--
-- us_to_ns(double): round(µs × 1000), halves away from zero: exact below 2^53 ns (~104
--   days), so for relative timestamps and every duration. read_json hands these over as
--   DOUBLE already (a JSON number, or a string holding one), the same doubles the orjson
--   path converts (timestamps.to_ns).
-- us_to_ns_exact(text): Kineto µs (integer, 3-decimal, or exponent form) → integer ns, exact:
--   the decimal text is cast to DECIMAL(38,3) (rounds half away from zero beyond 3
--   decimals), so 19-digit absolute timestamps keep their last digit; exponent forms go
--   through a double. NULL stays NULL; any other text raises, so the batch falls back to
--   the orjson path, which rejects the file naming the event (timestamps.BadNumber).
--   For the two absolute variants (epoch µs × 1000 exceeds 2^53, a double's exact range).
-- ts_exact(text, parsed): us_to_ns_exact of ts_text.sql's text; raises when the text is
--   missing although read_json found a ts (a spelling the pattern does not know).
-- args_or_null(json): the args object as JSON, NULL when absent or empty ({}).
-- args_problem(tbl, args): an event that goes into a table (tbl not NULL) whose args is present
--   and not an object (pipeline/ingest/limits.py): args is read_json's minified JSON text, so
--   an object starts with '{', code 123 (ascii() costs nothing measurable; json_type parses the
--   text, +10 %); JSON null counts as absent.
CREATE MACRO IF NOT EXISTS us_to_ns(v) AS CAST(round(v * 1000) AS BIGINT);
CREATE MACRO IF NOT EXISTS us_to_ns_exact(v) AS
    CASE WHEN v IS NULL THEN NULL
         ELSE coalesce(CAST(TRY_CAST(v AS DECIMAL(38, 3)) * 1000 AS BIGINT),
                       CAST(round(TRY_CAST(v AS DOUBLE) * 1000) AS BIGINT),
                       error('not a number: ' || v)) END;
CREATE MACRO IF NOT EXISTS ts_exact(text, parsed) AS
    CASE WHEN text IS NULL AND parsed IS NOT NULL THEN error('ts not found in the event text')
         ELSE us_to_ns_exact(text) END;
CREATE MACRO IF NOT EXISTS args_or_null(a) AS CASE WHEN a IS NULL OR a::VARCHAR = '{}' THEN NULL ELSE a END;
CREATE MACRO IF NOT EXISTS args_problem(tbl, args) AS
    tbl IS NOT NULL AND args IS NOT NULL AND ascii(args::VARCHAR) <> 123 AND args::VARCHAR <> 'null';

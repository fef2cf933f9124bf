-- macros used by events.sql (created once per parser connection).
--
-- us_to_ns_exact(text): Kineto µs (integer, 3-decimal, or exponent form) → integer ns, exact:
--   the decimal text is cast to DECIMAL(38,3) (rounds half away from zero beyond 3
--   decimals), so 19-digit absolute timestamps keep their last digit; NULL stays NULL.
--   For the two absolute variants (epoch µs × 1000 exceeds 2^53, a double's exact range).
-- us_to_ns_double(text): round(µs × 1000) on a double: exact below 2^53 ns (~104 days), so
--   for relative timestamps and every duration; ~20 % faster per batch than the DECIMAL cast,
--   and the same arithmetic as the orjson path (timestamps.to_ns).
-- args_or_null(json): the args object as JSON, NULL when absent or empty ({}).
CREATE MACRO IF NOT EXISTS us_to_ns_exact(v) AS
    coalesce(CAST(TRY_CAST(v AS DECIMAL(38, 3)) * 1000 AS BIGINT),
             CAST(round(TRY_CAST(v AS DOUBLE) * 1000) AS BIGINT));
CREATE MACRO IF NOT EXISTS us_to_ns_double(v) AS CAST(round(TRY_CAST(v AS DOUBLE) * 1000) AS BIGINT);
CREATE MACRO IF NOT EXISTS args_or_null(a) AS CASE WHEN a IS NULL OR a::VARCHAR = '{}' THEN NULL ELSE a END;

-- series_latest: among the given roots, the last-captured root of each series with its previous root.
-- Parameters: ? = roots (TEXT[])
-- Rows: root, previous (NULL: first of its series), series, captured_at
SELECT root, previous, series, captured_at
FROM diff_series
WHERE list_contains(?, root)
QUALIFY row_number() OVER (PARTITION BY series ORDER BY captured_at DESC, root DESC) = 1
ORDER BY root;

-- series_previous: set diff_series.previous of every root: the root of the same series captured last
-- before it (ties in captured_at: by root key).
-- Parameters: none
UPDATE diff_series SET previous = p.prev
FROM (SELECT root, lag(root) OVER (PARTITION BY series ORDER BY captured_at, root) AS prev FROM diff_series) p
WHERE diff_series.root = p.root;

-- read_root: the report_roots row of a root as one JSON object (its columns in order).
-- Parameters: ? = root
SELECT to_json(t) AS row FROM report_roots t WHERE root = ?;

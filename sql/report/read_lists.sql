-- read_lists: every stored row list of one view of a root's report, each row as one JSON object
-- (its columns in order), by field, stage and position. A new report_<field> table adds its
-- SELECT here (tests/test_flow.py checks that every list table is read).
-- Parameters: $root, $view
-- Rows: field (the stage field: the table name without 'report_'), stage, pos, row (JSON)
SELECT 'kernels' AS field, stage, pos, to_json(t) AS row FROM report_kernels t WHERE root = $root AND view = $view
UNION ALL
SELECT 'families' AS field, stage, pos, to_json(t) AS row FROM report_families t WHERE root = $root AND view = $view
UNION ALL
SELECT 'launch_groups' AS field, stage, pos, to_json(t) AS row FROM report_launch_groups t WHERE root = $root AND view = $view
UNION ALL
SELECT 'overlap' AS field, stage, pos, to_json(t) AS row FROM report_overlap t WHERE root = $root AND view = $view
UNION ALL
SELECT 'overlap_families' AS field, stage, pos, to_json(t) AS row FROM report_overlap_families t WHERE root = $root AND view = $view
UNION ALL
SELECT 'fusions' AS field, stage, pos, to_json(t) AS row FROM report_fusions t WHERE root = $root AND view = $view
UNION ALL
SELECT 'near_misses' AS field, stage, pos, to_json(t) AS row FROM report_near_misses t WHERE root = $root AND view = $view
UNION ALL
SELECT 'collectives' AS field, stage, pos, to_json(t) AS row FROM report_collectives t WHERE root = $root AND view = $view
ORDER BY field, stage, pos;

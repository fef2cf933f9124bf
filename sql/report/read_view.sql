-- read_view: one view of a root's stored report in one query, every row as one JSON object (its
-- columns in order): the view's row (report_views), its stages (report_stages) and every stored row
-- list of its stages (report_<field>). A new report_<field> table adds its SELECT here
-- (tests/test_flow.py checks that every report table but report_roots is read).
-- Parameters: $root, $view
-- Rows: field ('views', 'stages' or the stage field: the table name without 'report_'), stage, pos, row (JSON)
SELECT 'views' AS field, NULL AS stage, 0 AS pos, to_json(t) AS row FROM report_views t WHERE root = $root AND view = $view
UNION ALL
SELECT 'stages' AS field, stage, pos, to_json(t) AS row FROM report_stages t WHERE root = $root AND view = $view
UNION ALL
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
ORDER BY field, pos, stage;

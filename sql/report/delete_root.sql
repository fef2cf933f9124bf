-- delete_root: remove a root's stored report, one statement per report table (a new report_* table
-- adds its line here; tests/test_flow.py checks every table is listed).
-- Parameters: ? = root (each statement)
DELETE FROM report_roots WHERE root = ?;
DELETE FROM report_views WHERE root = ?;
DELETE FROM report_stages WHERE root = ?;
DELETE FROM report_kernels WHERE root = ?;
DELETE FROM report_families WHERE root = ?;
DELETE FROM report_launch_groups WHERE root = ?;
DELETE FROM report_overlap WHERE root = ?;
DELETE FROM report_overlap_families WHERE root = ?;
DELETE FROM report_fusions WHERE root = ?;
DELETE FROM report_near_misses WHERE root = ?;
DELETE FROM report_collectives WHERE root = ?;

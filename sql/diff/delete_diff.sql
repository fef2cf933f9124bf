-- delete_diff: remove one stored diff, one statement per diff table (a new diff_* table adds its line
-- here; tests/test_diff_store.py checks every table is listed).
-- Parameters: ? = base root, ? = variant root (each statement)
DELETE FROM diff_runs WHERE base = ? AND variant = ?;
DELETE FROM diff_stages WHERE base = ? AND variant = ?;
DELETE FROM diff_kernels WHERE base = ? AND variant = ?;
DELETE FROM diff_families WHERE base = ? AND variant = ?;
DELETE FROM diff_fusions WHERE base = ? AND variant = ?;
DELETE FROM diff_launch_groups WHERE base = ? AND variant = ?;

-- drop_derived: every table (and the view over them) computed from the raw event tables (kernel facts, stored reports, stored diffs),
-- dropped when one's definition changed; ensure_schema recreates them empty and `proftriage analyze`
-- fills them again. A new derived table adds its line here (tests/test_flow.py checks).
DROP TABLE IF EXISTS kernel_facts;
DROP TABLE IF EXISTS alignment_rates;
DROP TABLE IF EXISTS facts_builds;
DROP TABLE IF EXISTS stage_notes;
DROP TABLE IF EXISTS report_roots;
DROP TABLE IF EXISTS report_views;
DROP TABLE IF EXISTS report_stages;
DROP TABLE IF EXISTS report_kernels;
DROP TABLE IF EXISTS report_families;
DROP TABLE IF EXISTS report_launch_groups;
DROP TABLE IF EXISTS report_overlap;
DROP TABLE IF EXISTS report_overlap_families;
DROP TABLE IF EXISTS report_fusions;
DROP TABLE IF EXISTS report_near_misses;
DROP TABLE IF EXISTS report_collectives;
DROP TABLE IF EXISTS diff_series;
DROP TABLE IF EXISTS diff_runs;
DROP TABLE IF EXISTS diff_stages;
DROP TABLE IF EXISTS diff_kernels;
DROP TABLE IF EXISTS diff_families;
DROP TABLE IF EXISTS diff_fusions;
DROP TABLE IF EXISTS diff_launch_groups;
DROP VIEW IF EXISTS kernel_history;

-- report_stage_names: the stages of a root's stored report (view all), in report order.
-- Parameters: ? = root
-- Rows: stage TEXT
SELECT stage FROM report_stages WHERE root = ? AND view = 'all' ORDER BY pos;

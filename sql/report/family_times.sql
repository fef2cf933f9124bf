-- family_times: per root (its default view) and stage, each family's time — what a bundle's
-- cross-framework section needs of the other frameworks' roots, without reading their whole reports.
-- Parameters: ? = list of roots
-- Rows: root, stage, family, time_ns, same_stream_overlap_ns (stages by position, families by time)
SELECT f.root, f.stage, f.family, f.time_ns, f.same_stream_overlap_ns
FROM report_families f
JOIN report_roots r ON r.root = f.root AND f.view = r.default_view
JOIN report_stages s ON s.root = f.root AND s.view = f.view AND s.stage = f.stage
WHERE list_contains(?, f.root)
ORDER BY f.root, s.pos, f.pos;

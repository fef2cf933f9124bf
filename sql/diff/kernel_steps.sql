-- kernel_steps: the kernel rows of one stage of a root's view, with their time and launches in each step.
-- A kernel row is (display name, family, site label): the site label is kernel_facts.site, or
-- '(graph replay, unmapped)' / '(unattributed)' when it has none — the labels the report uses.
-- Parameters: ? = root, ? = file ids of the view's timing files (BIGINT[]), ? = kernel_facts.stage
-- Rows (one per kernel row and step):
--   name       TEXT    kernel_facts.display_name
--   family     TEXT    kernel_facts.family
--   site       TEXT    the site label
--   file_id    BIGINT  the step's file
--   step       INTEGER the step (NULL: activities of the stage outside step annotations)
--   time_ns    BIGINT  summed duration in that step
--   launches   BIGINT  activities in that step
--   first_seq  BIGINT  kernel_facts.seq of the row's first activity in that step (build order)
SELECT display_name AS name,
       family,
       CASE WHEN site IS NOT NULL AND site <> '' THEN site
            WHEN coalesce(is_graph, false) THEN '(graph replay, unmapped)'
            ELSE '(unattributed)' END AS site,
       file_id,
       step,
       CAST(sum(dur_ns) AS BIGINT) AS time_ns,
       count(*) AS launches,
       min(seq) AS first_seq
FROM kernel_facts
WHERE root = ? AND list_contains(?, file_id) AND stage = ?
GROUP BY ALL
ORDER BY first_seq;

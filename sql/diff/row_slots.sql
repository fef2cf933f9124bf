-- row_slots: the layer slot of each kernel row of one stage (run only when kernel_facts has a `slot`
-- column: docs/diff.md "Matching"). A row's slot is the slot most of its activities hold (ties: the
-- lowest); rows whose activities have no slot (outside the decoder layers) are absent.
-- Parameters: ? = root, ? = file ids of the view's timing files (BIGINT[]), ? = kernel_facts.stage
-- Rows: name, family, site (as in kernel_steps.sql), slot INTEGER
WITH counted AS (
    SELECT display_name AS name,
           family,
           CASE WHEN site IS NOT NULL AND site <> '' THEN site
                WHEN coalesce(is_graph, false) THEN '(graph replay, unmapped)'
                ELSE '(unattributed)' END AS site,
           slot,
           count(*) AS n
    FROM kernel_facts
    WHERE root = ? AND list_contains(?, file_id) AND stage = ? AND slot IS NOT NULL
    GROUP BY ALL
)
SELECT name, family, site, first(slot ORDER BY n DESC, slot) AS slot
FROM counted
GROUP BY name, family, site;

-- split_merged: turn an SGLang merged trace back into one virtual trace file per rank: move each
-- labelled row of every event table with a pid to its rank's virtual file.
-- Run by pipeline/ingest/merged.py inside the root's load transaction, after the merged file's
-- rows were copied in, so a failure rolls the whole load back. The other steps of the split:
-- merged_files.sql (which files), merged_labels.sql (their rank labels), merged_children.sql
-- (the virtual files' trace_files rows), merged_parent.sql (what stays with the merged file),
-- merged_carry.sql (virtual files kept with a merged file that failed to re-load).
--
-- Upstream facts (sgl-project/sglang python/sglang/srt/utils/profile_merger.py, ProfileMerger,
-- written by rank 0 when /start_profile has merge_profiles=true):
--   * merged-{profile_id}.trace.json.gz concatenates every `{profile_id}*.trace.json.gz` with
--     `TP-` in its name, ordered by (DP, EP, PP, TP);
--   * EVERY event's pid becomes the string "{label} {old pid}" with label
--     "[TP00-DP01-PP02-EP03]": the parts found in the per-rank file name (`TP-n`, `DP-n`, `PP-n`,
--     `EP-n`), in that order, two digits; "[Unknown]" when the name has none. tids are untouched;
--   * process_sort_index of int pids < 1000 is rewritten; deviceProperties are concatenated;
--     every other top-level key (baseTimeNanoseconds, distributedInfo, …) is the first file's.
--     So all ranks' ts are read against rank 0's clock base: times are consistent within a
--     rank, not across ranks (we only compare durations across ranks).
-- Per-stage files (…-TP-0-EXTEND and …-TP-0-DECODE) get the same label and end up in one
-- virtual file; its kernels' stages then come from the step annotations.
--
-- Input: the Arrow table registered as _merged_split, one row per (merged file, rank label), built
-- in Python (merged.py _split_one):
--   file_id   BIGINT   the merged file (trace_files.kind = 'merged')
--   label     TEXT     the label without brackets, e.g. 'TP01' or 'TP01-EP01'
--   prefix    TEXT     '[' || label || '] ' — what the merger put in front of the old pid
--   child_id  BIGINT   file_id of the virtual file: file_id_for(root, path || '#' || label)
--   path      TEXT     the virtual file's path: 'merged-….trace.json.gz#TP01'
--   rank      INTEGER  the label's TP number (the rank `--rank N` selects)
--   info      JSON     {"from": path, "label": "[TP01]", "tp": 1, "dp": null, "pp": null, "ep": null}
-- No parameters. Per event table with a pid column (every table of sql/schema with file_id and pid
-- but trace_files; tests/test_ingest_sql.py checks the list), two statements:
--   INSERT  copy the labelled rows to their virtual file, the label stripped from the pid (the pid
--           is again what the rank's own file says: '1', '6584', 'Spans'); in GPU tables (those
--           with a `device` column) device falls back to the numeric pid, as ingest does for an
--           unlabelled file (sql/schema/02_kernels.sql), since a labelled pid never parsed as one;
--   DELETE  remove the moved rows from the merged file (rows whose pid has no rank label stay).

INSERT INTO annotations BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid)
FROM annotations t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM annotations t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

INSERT INTO cpu_ops BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid)
FROM cpu_ops t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM cpu_ops t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

INSERT INTO gpu_memops BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid,
                    coalesce(t.device, TRY_CAST(substr(t.pid, length(s.prefix) + 1) AS BIGINT)) AS device)
FROM gpu_memops t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM gpu_memops t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

INSERT INTO kernels BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid,
                    coalesce(t.device, TRY_CAST(substr(t.pid, length(s.prefix) + 1) AS BIGINT)) AS device)
FROM kernels t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM kernels t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

INSERT INTO launches BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid)
FROM launches t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM launches t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

INSERT INTO python_frames BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid)
FROM python_frames t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM python_frames t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

INSERT INTO trace_meta BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid)
FROM trace_meta t
JOIN _merged_split s ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;
DELETE FROM trace_meta t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

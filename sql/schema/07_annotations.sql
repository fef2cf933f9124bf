-- annotations: user ranges and step markers.
--   file_id, ev, ts_ns, dur_ns (0 for instants), pid, tid, external_id: as in kernels
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS annotations (
    file_id     BIGINT,
    ev          BIGINT,
    cat         TEXT,
    name        TEXT,
    ts_ns       BIGINT,
    dur_ns      BIGINT,
    pid         TEXT,
    tid         TEXT,
    external_id BIGINT,
    stream      BIGINT
);
COMMENT ON COLUMN annotations.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN annotations.ev IS 'ordinal that grows with the position in traceEvents; unique per file';
COMMENT ON COLUMN annotations.cat IS 'user_annotation | gpu_user_annotation | instant (ph ''i'' other than [memory])';
COMMENT ON COLUMN annotations.name IS 'e.g. ''step[DECODE bs=32]'', ''execute_context_1(…)_generation_0(0)'', ''ProfilerStep#6''';
COMMENT ON COLUMN annotations.ts_ns IS 'start, integer nanoseconds';
COMMENT ON COLUMN annotations.dur_ns IS 'duration, integer nanoseconds (0 for instants)';
COMMENT ON COLUMN annotations.pid IS 'trace pid (device index for gpu_user_annotation)';
COMMENT ON COLUMN annotations.tid IS 'trace tid';
COMMENT ON COLUMN annotations.external_id IS 'args."External id" (NULL when absent)';
COMMENT ON COLUMN annotations.stream IS 'args.stream for gpu_user_annotation';

-- annotations: user ranges and step markers.
--   cat          TEXT    user_annotation | gpu_user_annotation | instant (ph 'i' other than [memory])
--   name         TEXT    e.g. 'step[DECODE bs=32]', 'execute_context_1(…)_generation_0(0)', 'ProfilerStep#6'
--   file_id, ev, ts_ns, dur_ns (0 for instants), pid, tid, external_id: as in kernels
--   stream       BIGINT  args.stream for gpu_user_annotation
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

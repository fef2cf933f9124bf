-- python_frames: Python call frames recorded with with_stack=True (cat = 'python_function').
--   file_id, ev, ts_ns, dur_ns, pid, tid: as in kernels
--   name         TEXT    'path/file.py(line): func', '<built-in method …>' or 'nn.Module: Class_N'
--   python_id    BIGINT  args."Python id"
--   parent_id    BIGINT  args."Python parent id" (NULL for roots; may point outside a sliced file)
--   module_id    BIGINT  args."Python module id" (nn.Module frames)
CREATE TABLE IF NOT EXISTS python_frames (
    file_id   BIGINT,
    ev        BIGINT,
    name      TEXT,
    ts_ns     BIGINT,
    dur_ns    BIGINT,
    pid       TEXT,
    tid       TEXT,
    python_id BIGINT,
    parent_id BIGINT,
    module_id BIGINT
);

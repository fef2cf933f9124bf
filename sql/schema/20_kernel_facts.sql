-- kernel_facts: one row per GPU activity (kernel, memcpy, memset) with its attribution,
-- family and stage — the record every analysis reads (docs/architecture.md).
--   root          TEXT     trace_roots.root
--   file_id, ev   BIGINT   the activity (kernels.ev or gpu_memops.ev)
--   kind          TEXT     kernel | memcpy | memset
--   name          TEXT     raw name
--   display_name  TEXT     canonical name: parameter lists dropped, addresses masked
--   family        TEXT     kernel family from pipeline/catalog/kernel_families.toml
--   ts_ns, dur_ns BIGINT   start and duration (ns)
--   stream, device, correlation BIGINT
--   launch_name   TEXT     runtime/driver call that launched it (cudaLaunchKernel, cudaGraphLaunch, …)
--   launch_ts_ns  BIGINT   when that call started on the CPU
--   is_graph      BOOLEAN  launched by a CUDA/HIP graph replay
--   cpu_op_ev     BIGINT   cpu_ops.ev of the op (one op instance = one launch-group instance)
--   cpu_op        TEXT     the op's name
--   site          TEXT     innermost model/framework frame, 'pkg/path.py:line func' (NULL for graph
--                          replays until a mapping supplies one)
--   launch_site   TEXT     the site of the CPU point that issued the launch (graph replays: the replay call)
--   stack         TEXT[]   Python stack outermost → innermost, package-relative
--   step          INTEGER  step index in the file (time order), NULL outside step annotations
--   step_name     TEXT     the step annotation
--   stage         TEXT     prefill | decode | mixed | unknown
--   attribution   TEXT     direct | enclosing | graph | mapped | none
--   mapped_from   TEXT     for attribution = 'mapped': 'mapping trace <path>' or 'eager steps of this trace'
--   match_kind    TEXT     alignment match: exact | family | NULL
--   flops         BIGINT   FLOPs of the launching op's cost model, this activity's share of its launch
--                          group (split by duration); NULL without a model (pipeline/roofline/costs.py)
--   bytes         BIGINT   HBM bytes of the same model and share; NULL without a model
--   dtype         TEXT     dtype whose roof the FLOPs run at (bf16, fp8, fp32, …); NULL without a model
--   cost_model    TEXT     gemm | linear | matmul | grouped_mm | fused_moe | attention | io | pointwise |
--                          reduction; NULL without a model
--   cost_note     TEXT     why there is no model, or the model's caveat (docs/roofline.md)
CREATE TABLE IF NOT EXISTS kernel_facts (
    root         TEXT,
    file_id      BIGINT,
    ev           BIGINT,
    kind         TEXT,
    name         TEXT,
    display_name TEXT,
    family       TEXT,
    ts_ns        BIGINT,
    dur_ns       BIGINT,
    stream       BIGINT,
    device       BIGINT,
    correlation  BIGINT,
    launch_name  TEXT,
    launch_ts_ns BIGINT,
    is_graph     BOOLEAN,
    cpu_op_ev    BIGINT,
    cpu_op       TEXT,
    site         TEXT,
    launch_site  TEXT,
    stack        TEXT[],
    step         INTEGER,
    step_name    TEXT,
    stage        TEXT,
    attribution  TEXT,
    mapped_from  TEXT,
    match_kind   TEXT,
    flops        BIGINT,
    bytes        BIGINT,
    dtype        TEXT,
    cost_model   TEXT,
    cost_note    TEXT
);
-- the cost columns, for a warehouse created before they existed
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS flops BIGINT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS bytes BIGINT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS dtype TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS cost_model TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS cost_note TEXT;

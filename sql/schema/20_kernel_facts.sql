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
-- Collectives (pipeline/collectives/facts.py; NULL on every other activity, and on collectives
-- whose trace lacks the item):
--   coll_name       TEXT     kernel args "Collective name" (c10d's call: allreduce, _allgather_base, …)
--   coll_in_nelems  BIGINT   args "In msg nelems"
--   coll_out_nelems BIGINT   args "Out msg nelems"
--   coll_group_size INTEGER  args "Group size"
--   coll_dtype      TEXT     args "dtype" (c10 ScalarType name)
--   coll_pg         TEXT     args "Process Group Name"
--   coll_pg_ranks   TEXT     args "Process Group Ranks", e.g. '[0, 1, 2, 3]'
--   gap_prev_end_ns    BIGINT  end of the GPU activity (same file and device) that ended last before
--                              this collective started; start − it = the GPU idle right before
--   gap_prev_launch_ns BIGINT  that activity's launch: the CPU gap before the collective runs from
--                              here to the collective's own launch_ts_ns
--   gap_cpu_ops     STRUCT(name TEXT, count BIGINT, time_ns BIGINT)[]  outermost CPU ops of the
--                            launching thread in that CPU gap, time clipped to it, largest first
--   gap_site        TEXT     innermost model/framework frame covering at least half of the CPU gap
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
    coll_name       TEXT,
    coll_in_nelems  BIGINT,
    coll_out_nelems BIGINT,
    coll_group_size INTEGER,
    coll_dtype      TEXT,
    coll_pg         TEXT,
    coll_pg_ranks   TEXT,
    gap_prev_end_ns    BIGINT,
    gap_prev_launch_ns BIGINT,
    gap_cpu_ops     STRUCT(name TEXT, count BIGINT, time_ns BIGINT)[],
    gap_site        TEXT
);

-- A warehouse made before the collective columns existed gains them here (a no-op otherwise):
-- kernel_facts is derived, so the next triage of a root fills them.
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_name TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_in_nelems BIGINT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_out_nelems BIGINT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_group_size INTEGER;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_dtype TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_pg TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS coll_pg_ranks TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS gap_prev_end_ns BIGINT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS gap_prev_launch_ns BIGINT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS gap_cpu_ops STRUCT(name TEXT, count BIGINT, time_ns BIGINT)[];
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS gap_site TEXT;

-- kernel_facts: one row per GPU activity (kernel, memcpy, memset) of every loaded file of a root,
-- every rank, mapping traces included — built once per root by `pipeline.facts.build_facts`
-- (attribute → align) and read by every analysis (docs/architecture.md). Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS kernel_facts (
    root         TEXT,
    file_id      BIGINT,
    ev           BIGINT,
    seq          BIGINT,
    rank         INTEGER,
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
    stack_id     BIGINT,
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
    cost_note    TEXT,
    coll_name          TEXT,
    coll_in_nelems     BIGINT,
    coll_out_nelems    BIGINT,
    coll_group_size    INTEGER,
    coll_dtype         TEXT,
    coll_pg            TEXT,
    coll_pg_ranks      TEXT,
    gap_prev_end_ns    BIGINT,
    gap_prev_launch_ns BIGINT,
    gap_cpu_ops        STRUCT(name TEXT, count BIGINT, time_ns BIGINT)[],
    gap_site           TEXT,
    layer        INTEGER,
    slot         INTEGER,
    layer_pass   INTEGER,
    layer_group  TEXT,
    slot_role    TEXT,
    layer_source TEXT,
    input_dims   TEXT
);
COMMENT ON COLUMN kernel_facts.root IS 'trace_roots.root';
COMMENT ON COLUMN kernel_facts.file_id IS 'trace_files.file_id of the activity''s file';
COMMENT ON COLUMN kernel_facts.ev IS 'kernels.ev or gpu_memops.ev: the activity''s ordinal in its file';
COMMENT ON COLUMN kernel_facts.seq IS 'position in the root''s build order: files by path, each file''s activities in time order';
COMMENT ON COLUMN kernel_facts.rank IS 'trace_files.rank of the file (NULL when the file carries no rank)';
COMMENT ON COLUMN kernel_facts.kind IS 'kernel | memcpy | memset';
COMMENT ON COLUMN kernel_facts.name IS 'raw activity name as the profiler wrote it';
COMMENT ON COLUMN kernel_facts.display_name IS 'canonical name: parameter lists dropped, addresses masked (classify.display_name)';
COMMENT ON COLUMN kernel_facts.family IS 'kernel family from pipeline/catalog/kernel_families.toml (memory for memcpy/memset)';
COMMENT ON COLUMN kernel_facts.ts_ns IS 'start, integer ns on the file''s clock';
COMMENT ON COLUMN kernel_facts.dur_ns IS 'duration, integer ns';
COMMENT ON COLUMN kernel_facts.stream IS 'GPU stream';
COMMENT ON COLUMN kernel_facts.device IS 'GPU device index';
COMMENT ON COLUMN kernel_facts.correlation IS 'correlation id of the launching runtime/driver call (shared by a graph replay)';
COMMENT ON COLUMN kernel_facts.launch_name IS 'runtime/driver call that launched it (cudaLaunchKernel, cudaGraphLaunch, ...)';
COMMENT ON COLUMN kernel_facts.launch_ts_ns IS 'when that call started on the CPU (ns)';
COMMENT ON COLUMN kernel_facts.is_graph IS 'launched by a CUDA/HIP graph replay';
COMMENT ON COLUMN kernel_facts.cpu_op_ev IS 'cpu_ops.ev of the launching op (one op instance = one launch-group instance); for mapped kernels the op in the mapping source';
COMMENT ON COLUMN kernel_facts.cpu_op IS 'the launching op''s name';
COMMENT ON COLUMN kernel_facts.site IS 'innermost model/framework frame, ''pkg/path.py:line func'' (NULL for graph replays no source mapped)';
COMMENT ON COLUMN kernel_facts.launch_site IS 'site of the CPU point that issued the launch (graph replays: the replay call)';
COMMENT ON COLUMN kernel_facts.stack IS 'Python stack outermost to innermost, package-relative';
COMMENT ON COLUMN kernel_facts.stack_id IS 'id of the distinct stack within the root build (equal ids = equal stacks)';
COMMENT ON COLUMN kernel_facts.step IS 'step index in the file (time order); NULL outside step annotations';
COMMENT ON COLUMN kernel_facts.step_name IS 'the step annotation''s name';
COMMENT ON COLUMN kernel_facts.stage IS 'prefill | decode | mixed | unknown | outside (outside every step window)';
COMMENT ON COLUMN kernel_facts.attribution IS 'how the site was obtained: direct (External id) | enclosing (op around the launch) | mapped (mapping trace or eager steps of this trace) | cross_root (another root of the same model, by layer slot) | catalog (pipeline/catalog/kernel_sites.toml) | graph (graph replay, no site) | none (no site)';
COMMENT ON COLUMN kernel_facts.mapped_from IS 'where a transferred site comes from: ''mapping trace <path>'', ''eager steps of this trace'', ''root <root> (captured <UTC time>)'', ''catalog <entry id> (<upstream file>)''';
COMMENT ON COLUMN kernel_facts.match_kind IS 'alignment match: exact | family | NULL';
COMMENT ON COLUMN kernel_facts.flops IS 'FLOPs of the launching op''s cost model, this activity''s share of its launch group (split by duration); NULL without a model (pipeline/roofline/costs.py)';
COMMENT ON COLUMN kernel_facts.bytes IS 'HBM bytes of the same model and share; NULL without a model';
COMMENT ON COLUMN kernel_facts.dtype IS 'dtype whose roof the FLOPs run at (bf16, fp8, fp32, ...); NULL without a model';
COMMENT ON COLUMN kernel_facts.cost_model IS 'gemm | linear | matmul | grouped_mm | fused_moe | attention | io | pointwise | reduction; NULL without a model';
COMMENT ON COLUMN kernel_facts.cost_note IS 'why there is no model, or the model''s caveat (docs/roofline.md)';
COMMENT ON COLUMN kernel_facts.coll_name IS 'collectives only (pipeline/collectives/facts.py): kernel args "Collective name" (c10d''s call: allreduce, _allgather_base, ...)';
COMMENT ON COLUMN kernel_facts.coll_in_nelems IS 'collectives: args "In msg nelems"';
COMMENT ON COLUMN kernel_facts.coll_out_nelems IS 'collectives: args "Out msg nelems"';
COMMENT ON COLUMN kernel_facts.coll_group_size IS 'collectives: args "Group size"';
COMMENT ON COLUMN kernel_facts.coll_dtype IS 'collectives: args "dtype" (c10 ScalarType name)';
COMMENT ON COLUMN kernel_facts.coll_pg IS 'collectives: args "Process Group Name"';
COMMENT ON COLUMN kernel_facts.coll_pg_ranks IS 'collectives: args "Process Group Ranks", e.g. ''[0, 1, 2, 3]''';
COMMENT ON COLUMN kernel_facts.gap_prev_end_ns IS 'collectives: end of the GPU activity (same file and device) that ended last before this one started; start minus it = the GPU idle right before';
COMMENT ON COLUMN kernel_facts.gap_prev_launch_ns IS 'collectives: that activity''s launch; the CPU gap before the collective runs from here to its own launch_ts_ns';
COMMENT ON COLUMN kernel_facts.gap_cpu_ops IS 'collectives: outermost CPU ops of the launching thread in that CPU gap, time clipped to it, largest first';
COMMENT ON COLUMN kernel_facts.gap_site IS 'collectives: innermost model/framework frame covering at least half of the CPU gap';
COMMENT ON COLUMN kernel_facts.layer IS 'decoder layer index within its forward pass (NULL outside the layers: embedding, final norm, lm_head, sampling, scheduler work); docs/layers.md';
COMMENT ON COLUMN kernel_facts.slot IS 'position in the stage''s layer template (tile variants of one kernel share a slot)';
COMMENT ON COLUMN kernel_facts.layer_pass IS 'forward pass index within the stage (NULL outside the layers)';
COMMENT ON COLUMN kernel_facts.layer_group IS 'slot group (pipeline/catalog/layer_groups.toml): attention, qkv_o_gemm, qk_norm_rope, router_topk, expert_gemm, moe_finalize, communication, norm, activation, kv_cache_store, mlp_gemm, other';
COMMENT ON COLUMN kernel_facts.slot_role IS 'projection the slot position tells: qkv | o | gate_up | down | router | mlp | qk_norm | rope | NULL';
COMMENT ON COLUMN kernel_facts.layer_source IS 'how the layers were found: module (nn.Module frames) | stack | periodicity';
COMMENT ON COLUMN kernel_facts.input_dims IS 'attribution = cross_root: the source op''s recorded input shapes (JSON); else NULL';

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
--   attribution   TEXT     how the site was obtained: direct (External id) | enclosing (op around the
--                          launch) | mapped (mapping trace or eager steps of this trace) | cross_root (another
--                          root of the same model, by layer slot) | catalog (pipeline/catalog/kernel_sites.toml)
--                          | graph (graph replay, no site) | none (no site)
--   mapped_from   TEXT     where a transferred site comes from: 'mapping trace <path>', 'eager steps of this
--                          trace', 'root <root> (captured <UTC time>)', 'catalog <entry id> (<upstream file>)'
--   match_kind    TEXT     alignment match: exact (same kernel) | family (same family / slot group) | NULL
--   layer         INTEGER  decoder layer index within its forward pass (NULL outside the layers: embedding,
--                          final norm, lm_head, sampling, scheduler work) — docs/layers.md
--   slot          INTEGER  position in the stage's layer template (tile variants of one kernel share a slot)
--   layer_pass    INTEGER  forward pass index within the stage (NULL outside the layers)
--   layer_group   TEXT     slot group: attention, qkv_o_gemm, qk_norm_rope, router_topk, expert_gemm,
--                          moe_finalize, communication, norm, activation, kv_cache_store, mlp_gemm, other
--   slot_role     TEXT     projection the slot position tells: qkv | o | gate_up | down | router | mlp |
--                          qk_norm | rope | NULL
--   layer_source  TEXT     how the layers were found: module (nn.Module frames) | stack | periodicity
--   input_dims    TEXT     attribution = cross_root: the source op's recorded input shapes (JSON); else NULL
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
    layer        INTEGER,
    slot         INTEGER,
    layer_pass   INTEGER,
    layer_group  TEXT,
    slot_role    TEXT,
    layer_source TEXT,
    input_dims   TEXT
);
-- a warehouse created before the layer / cross-root columns gains them here (no row changes)
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS layer INTEGER;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS slot INTEGER;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS layer_pass INTEGER;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS layer_group TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS slot_role TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS layer_source TEXT;
ALTER TABLE kernel_facts ADD COLUMN IF NOT EXISTS input_dims TEXT;

-- report_collectives: collectives matched across the ranks of a root, one row per collective of a
-- stage, largest summed time first (docs/collectives.md, docs/json-schema.md stages[].collectives).
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_collectives (
    root             TEXT,
    view             TEXT,
    stage            TEXT,
    pos              INTEGER,
    name             TEXT,
    family           TEXT,
    collective       TEXT,
    "group"          TEXT,
    process_group    TEXT,
    stream           BIGINT,
    ranks            INTEGER[],
    group_size       BIGINT,
    partial_group    BOOLEAN,
    instances        BIGINT,
    unmatched        BIGINT,
    mismatched       BIGINT,
    transfer_ns      BIGINT,
    time_ns          BIGINT,
    wait_ns          BIGINT,
    per_rank         JSON,
    ends_aligned     BOOLEAN,
    late_rank        INTEGER,
    late_share       DOUBLE,
    late_rank_before JSON,
    bytes            BIGINT,
    algbw_gbps       DOUBLE,
    busbw_gbps       DOUBLE,
    busbw_factor     DOUBLE,
    nccl_kind        TEXT
);
COMMENT ON COLUMN report_collectives.root IS 'trace_roots.root';
COMMENT ON COLUMN report_collectives.view IS 'report_views.view';
COMMENT ON COLUMN report_collectives.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_collectives.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_collectives.name IS 'display name of the collective kernel';
COMMENT ON COLUMN report_collectives.family IS 'kernel family';
COMMENT ON COLUMN report_collectives.collective IS 'the "Collective name" metadata (c10d call), NULL without metadata';
COMMENT ON COLUMN report_collectives."group" IS 'process group N [ranks], stream S, or NULL: what instances are matched within';
COMMENT ON COLUMN report_collectives.process_group IS 'the "Process Group Name" metadata';
COMMENT ON COLUMN report_collectives.stream IS 'the stream the instances ran on, when matched by stream';
COMMENT ON COLUMN report_collectives.ranks IS 'ranks of the root that took part';
COMMENT ON COLUMN report_collectives.group_size IS '"Group size" metadata, else distributedInfo.world_size';
COMMENT ON COLUMN report_collectives.partial_group IS 'the group has ranks outside the root: transfer is an upper bound';
COMMENT ON COLUMN report_collectives.instances IS 'instances matched across the ranks';
COMMENT ON COLUMN report_collectives.unmatched IS 'occurrences past the smallest per-step count of a rank';
COMMENT ON COLUMN report_collectives.mismatched IS 'instances dropped because their metadata disagree';
COMMENT ON COLUMN report_collectives.transfer_ns IS 'sum over instances of the shortest duration across the ranks (ns)';
COMMENT ON COLUMN report_collectives.time_ns IS 'summed duration over the ranks (ns)';
COMMENT ON COLUMN report_collectives.wait_ns IS 'time_ns - transfer_ns x ranks: time spent waiting for the last rank (ns)';
COMMENT ON COLUMN report_collectives.per_rank IS '[{rank, time_ns, wait_ns, late_count, aligned_share, median_end_offset_ns}], transfer + wait = time per rank';
COMMENT ON COLUMN report_collectives.ends_aligned IS 'the ends of matched instances line up (clocks comparable); NULL without instances';
COMMENT ON COLUMN report_collectives.late_rank IS 'the rank most often last to start (NULL when the ends do not line up)';
COMMENT ON COLUMN report_collectives.late_share IS 'share of the instances it was last for';
COMMENT ON COLUMN report_collectives.late_rank_before IS 'what the late rank did before: GPU idle, launch-bound time, CPU gap, CPU ops, site';
COMMENT ON COLUMN report_collectives.bytes IS 'sum of max(in, out) elements x dtype size; NULL without metadata';
COMMENT ON COLUMN report_collectives.algbw_gbps IS 'bytes / transfer_ns (GB/s, as nccl-tests)';
COMMENT ON COLUMN report_collectives.busbw_gbps IS 'algbw x busbw_factor';
COMMENT ON COLUMN report_collectives.busbw_factor IS 'nccl-tests bus-bandwidth factor for the collective and group size';
COMMENT ON COLUMN report_collectives.nccl_kind IS 'the NCCL operation the factor is for (allreduce, allgather, ...)';

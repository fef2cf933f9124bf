"""Speed of light: FLOPs and bytes per op from recorded shapes, device peaks, roofline time.

`devices` matches a trace's GPU to `pipeline/catalog/devices.toml` (dense peaks, overridable);
`models` holds one small cost model per op kind (`pipeline/catalog/op_costs.toml` says which
op uses which model and where its arguments are); `costs.assign_costs` is the facts step that
adds ``flops, bytes, dtype, cost_model, cost_note`` to every kernel record;
`pipeline.analyze.roofline` turns those into per-row and per-stage figures. Rules and limits:
docs/roofline.md.
"""

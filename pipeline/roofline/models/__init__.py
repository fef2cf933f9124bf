"""One small cost model per op kind (gemm, attention, memory) and the registry that picks one."""

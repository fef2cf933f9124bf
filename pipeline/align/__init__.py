"""Align graph-replayed kernels with eager kernels that carry their attribution."""

"""Two-run diffs and nightly regressions (docs/diff.md).

`inputs.diff_roots` compares two roots' stored reports and facts (`sides` reads them, `match` pairs
kernel rows, `noise` judges each difference, `compare` and `changes` build the JSON); `present`
applies the reader's cutoff and renders markdown; `store` keeps diffs as the `diff_*` tables;
`series` and `nightly` place each root after the previous capture of its configuration and diff them.
"""

"""Discover: data root or command-line paths → TraceRoot / TraceFile records, sniffing traces, never parsing.

One module per job: `records` (the records, the error, shared names), `walk` (walking a data root,
keys, fingerprints, building roots and files), `sniffing` (a file's first bytes → kind), `infer`
(framework / model / run / stage / rank / role), `sidecars` (proftriage.toml, capture.json,
server_args.json, the diffusion gate), `inputs` (CLI paths → roots). Rules: docs/discovery.md.
"""

from pipeline.discover.infer import display_model
from pipeline.discover.inputs import pair_root, resolve_inputs, single_file_root
from pipeline.discover.records import DiscoveryError, TraceFile, TraceRoot
from pipeline.discover.sniffing import sniff
from pipeline.discover.walk import (discover, discover_root, discover_with_warnings, inspect_file, normal_path,
                                    sanitize_key)

__all__ = ["discover", "discover_with_warnings", "discover_root", "inspect_file", "sniff", "DiscoveryError",
           "TraceFile", "TraceRoot", "sanitize_key", "normal_path", "display_model", "resolve_inputs",
           "single_file_root", "pair_root"]

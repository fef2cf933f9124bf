"""Discover: data root → TraceRoot / TraceFile records, sniffing traces, never parsing (docs/discovery.md)."""

from pipeline.discover.walk import (DiscoveryError, TraceFile, TraceRoot, discover, discover_root,
                                    discover_with_warnings, display_model, inspect_file, normal_path,
                                    sanitize_key, sniff)

__all__ = ["discover", "discover_with_warnings", "discover_root", "inspect_file", "sniff", "DiscoveryError",
           "TraceFile", "TraceRoot", "sanitize_key", "normal_path", "display_model"]

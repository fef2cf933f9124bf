"""Markdown rendering: one report, bundles per model x framework, the index."""

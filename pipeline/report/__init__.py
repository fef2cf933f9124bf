"""The triage report of a root: per-stage analyses, per-rank views, headline."""

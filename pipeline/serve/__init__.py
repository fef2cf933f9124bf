"""A warm `proftriage` server: commands run in a fork of a process that has already imported the
engine and loaded its catalogs, so a small trace does not pay the start-up (docs/serve.md)."""

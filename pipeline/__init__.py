"""proftriage engine: discover → ingest → attribute → classify → stage → align → analyse → render.

Pure Python; this package never imports Dagster (the `assets` package does).
"""

__version__ = "0.1.0"

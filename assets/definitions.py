"""The Dagster code location `assets.definitions` (object `defs`).

Everything is listed explicitly; `tests/dagster/test_definitions.py` snapshots the names.
Loading this module does no I/O: paths are resolved by the resources when a step runs.
"""

from __future__ import annotations

import dagster as dg

from assets.jobs import JOBS
from assets.schedules import SCHEDULES
from assets.sensors import SENSORS
from assets.bundles import bundle, bundle_index
from assets.checks import ASSET_CHECKS
from assets.regressions import RegressionPolicy, no_significant_regression, regressions
from assets.reports import triage_report
from assets.resources import QualityFloors, TracePaths, WarehouseResource
from assets.roots import kernel_facts, raw_trace_files

defs = dg.Definitions(
    assets=[raw_trace_files, kernel_facts, triage_report, regressions, bundle, bundle_index],
    asset_checks=[*ASSET_CHECKS, no_significant_regression],
    jobs=JOBS,
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources={"warehouse": WarehouseResource(), "paths": TracePaths(), "floors": QualityFloors(),
               "policy": RegressionPolicy()},
    executor=dg.in_process_executor,
)

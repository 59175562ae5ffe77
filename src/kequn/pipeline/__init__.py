"""The customer pipeline: one Ibis definition, run on DuckDB or Spark."""

from kequn.pipeline.catalog import RunInfo, runs
from kequn.pipeline.run import run_pipeline

__all__ = ["RunInfo", "run_pipeline", "runs"]

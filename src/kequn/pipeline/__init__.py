"""The customer pipeline: one Ibis definition, run on DuckDB or Spark."""

from kequn.pipeline.run import run_pipeline
from kequn.pipeline.catalog import RunInfo, runs

__all__ = ["RunInfo", "run_pipeline", "runs"]

"""Ingest: a bank's nightly extract, validated row by row, into a dated snapshot."""

from kequn.ingest.run import FileCount, IngestReport, TableCount, ingest
from kequn.ingest.store import SnapshotInfo, latest, snapshots

__all__ = ["FileCount", "IngestReport", "SnapshotInfo", "TableCount", "ingest", "latest", "snapshots"]

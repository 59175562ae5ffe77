"""Writes contract tables a chunk at a time: CSV (UTF-8 or GBK) or Parquet."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kequn.contract import Table

Format = Literal["csv", "parquet"]
SHANGHAI_OFFSET = np.timedelta64(8 * 3600, "s")  # no daylight saving since 1991


def arrow_type(kind: str, *, for_csv: bool) -> pa.DataType:
    return {
        "str": pa.string(),
        "enum": pa.string(),
        "int": pa.int32(),
        "number": pa.float64(),
        "money": pa.decimal128(18, 2),
        "rate": pa.decimal128(12, 6),
        "date": pa.date32(),
        "timestamp": pa.timestamp("s") if for_csv else pa.timestamp("s", tz="Asia/Shanghai"),
        "bool": pa.bool_(),
    }[kind]


def to_arrow(table: Table, columns: Mapping[str, Any], *, for_csv: bool) -> pa.Table:
    """Typed Arrow columns in contract order; missing columns become nulls."""
    arrays = []
    n = len(next(iter(columns.values())))
    for col in table.columns:
        typ = arrow_type(col.kind, for_csv=for_csv)
        values = columns.get(col.name)
        if values is None:
            arrays.append(pa.nulls(n, typ))
            continue
        if col.kind == "timestamp" and not for_csv:
            values = np.asarray(values, dtype="datetime64[s]") - SHANGHAI_OFFSET
        if col.kind in ("money", "rate"):
            arr = pa.array(np.asarray(values, dtype=float), from_pandas=True).cast(typ)
        elif col.kind == "timestamp" and not for_csv:
            arr = pa.array(values, pa.timestamp("s"), from_pandas=True).cast(typ)
        else:
            arr = pa.array(values, typ, from_pandas=True)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(table.column_names))


def as_text(batch: pa.Table) -> pa.Table:
    """Every column as text, rendered as the CSV writer renders it."""
    return pa.Table.from_arrays([c.cast(pa.string()) for c in batch.columns], names=batch.column_names)


class TableWriter:
    """One output file, written chunk by chunk; counts the rows written."""

    def __init__(self, out_dir: Path, table: Table, fmt: Format, encoding: str, text_only: bool) -> None:
        self.table = table
        self.fmt = fmt
        self.encoding = encoding
        self.text_only = text_only
        self.path = out_dir / f"{table.name}.{fmt}"
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._file = open(self.path, "wb") if fmt == "csv" else None  # noqa: SIM115

    @property
    def first_line(self) -> int:
        """Line (CSV, after the header) or row number (Parquet) of the next row."""
        return self.rows + (2 if self.fmt == "csv" else 1)

    def write(self, batch: pa.Table) -> None:
        if self.fmt == "csv":
            assert self._file is not None
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=self.rows == 0))
            data = buf.getvalue()
            if self.encoding.lower() not in ("utf-8", "utf8"):
                data = data.decode("utf-8").encode(self.encoding)
            self._file.write(data)
        else:
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, batch.schema, compression="zstd")
            self._parquet.write_table(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "parquet" and self.rows == 0:
            schema = pa.schema(
                [
                    (c.name, pa.string() if self.text_only else arrow_type(c.kind, for_csv=False))
                    for c in self.table.columns
                ]
            )
            pq.write_table(schema.empty_table(), self.path)

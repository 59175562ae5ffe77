"""The slow, careful reader for CSV files the fast reader gives up on.

DuckDB's strict CSV reader rejects bad lines one by one, but some files stop
it altogether (mixed line endings, for one). Then this reader walks the file
line by line with Python's csv module: a record that does not parse, or does
not have the header's number of fields, is kept as malformed with its line
number and text; every good record is written to a clean copy with its
original line number in front, for the fast reader to load.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: how many physical lines one quoted value may span before the record is
#: declared malformed and reading resumes on the next line
MAX_SPAN = 50


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    text: str
    error: str


def _parse(text: str, delimiter: str) -> list[str] | None:
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _lines(path: Path, codec: str) -> Iterator[str]:
    """Lines ended by LF only, as the fast reader and the line counts see them
    (str.splitlines would also break at form feeds and other separators)."""
    with open(path, "rb") as fh:
        for raw in fh:
            yield raw.decode(codec)


def repair_csv(path: Path, encoding: str, delimiter: str, width: int, dest: Path) -> list[BadLine]:
    """Writes ``dest`` (``_line`` + the fields of each good record, UTF-8) and
    returns the malformed lines."""
    codec = "gb18030" if encoding == "gbk" else encoding
    source = _lines(path, codec)
    ahead: deque[str] = deque()
    next(source, None)  # the header
    bad: list[BadLine] = []
    number = 1  # line number of ahead[0]
    with open(dest, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(["_line", *(f"c{i}" for i in range(width))])
        while True:
            if not ahead:
                line = next(source, None)
                if line is None:
                    break
                ahead.append(line)
            number += 1
            text = ahead[0]
            if not text.strip("\r\n"):
                ahead.popleft()
                continue
            fields = _parse(text, delimiter)
            span = 1
            # a quoted value may run over several lines: join until it closes
            while fields is None and text.count('"') % 2 == 1 and span < MAX_SPAN:
                if len(ahead) <= span:
                    more = next(source, None)
                    if more is None:
                        break
                    ahead.append(more)
                text += ahead[span]
                span += 1
                fields = _parse(text, delimiter)
            if fields is not None and len(fields) == width:
                writer.writerow([number, *fields])
                for _ in range(span):
                    ahead.popleft()
                number += span - 1
                continue
            if fields is None:
                error = "UNPARSEABLE (unbalanced quotes)"
            else:
                error = (
                    f"{'TOO MANY' if len(fields) > width else 'MISSING'} COLUMNS "
                    f"(expected {width}, found {len(fields)})"
                )
            bad.append(BadLine(number, ahead.popleft().rstrip("\r\n"), error))
    return bad

"""Finding a table's files in an extract, and making them readable.

A table comes as ``customers.csv``, ``customers.parquet`` or a folder
``customers/`` of parts, or under the names a mapping gives. CSV text is
UTF-8 or GBK (GB18030, its superset, is used to decode); the encoding is
detected when not stated, and GBK is transcoded to UTF-8 for the reader.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from kequn.core.errors import InputError

CHUNK = 1 << 24


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    kind: str  # "csv" or "parquet"
    encoding: str  # of the original bytes; "utf-8" for parquet
    header: tuple[str, ...]
    digest: str
    delimiter: str = ","
    #: physical lines that are empty: the CSV reader skips them, and line
    #: numbers after them must count them
    blank_lines: tuple[int, ...] = ()
    #: physical lines in all, the header included
    lines: int = 0
    #: both CRLF and LF line endings: the fast reader miscounts lines then
    mixed_endings: bool = False

    @property
    def name(self) -> str:
        return self.path.name


def table_files(folder: Path, table: str, named: list[str]) -> list[Path]:
    """The files of ``table``: those a mapping names, or the contract's own names."""
    if named:
        files = []
        for name in named:
            matches = sorted(folder.glob(name))
            if not matches:
                raise InputError(folder / name, f"file for table {table} not found")
            files.extend(matches)
        return files
    candidates = [folder / f"{table}.csv", folder / f"{table}.parquet"]
    found = [p for p in candidates if p.is_file()]
    part_dir = folder / table
    if part_dir.is_dir():
        found.extend(
            sorted(p for p in part_dir.iterdir() if p.suffix.lower() in (".csv", ".parquet") and p.is_file())
        )
    if len([p for p in found if p.parent == folder]) > 1:
        raise InputError(folder, f"both {table}.csv and {table}.parquet are present; keep one")
    return found


def detect_encoding(path: Path, stated: str | None) -> tuple[str, str]:
    """The file's text encoding (the stated one, checked, or UTF-8 or GBK) and
    the SHA-256 of its bytes."""
    tried = [stated] if stated else ["utf-8", "gb18030"]
    for enc in tried:
        try:
            normal = codecs.lookup(enc).name
        except LookupError:
            raise InputError(path, f"unknown encoding {enc!r}") from None
        if normal in ("gbk", "gb2312"):
            normal = "gb18030"  # a superset: decodes every GBK file
        digest = _decodes(path, normal)
        if digest is not None:
            return ("gbk" if normal == "gb18030" else normal), digest
    if stated:
        raise InputError(path, f"cannot be read as {stated}: {_first_bad(path, stated)}")
    raise InputError(path, f"text is neither UTF-8 nor GBK: {_first_bad(path, 'utf-8')}; state the encoding")


def _decodes(path: Path, encoding: str) -> str | None:
    """The file's SHA-256 if all of it decodes, else None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        try:
            while chunk := fh.read(CHUNK):
                sha.update(chunk)
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return sha.hexdigest()


def line_facts(path: Path) -> tuple[tuple[int, ...], int, bool]:
    """1-based numbers of the empty lines of a text file (LF or CRLF endings),
    the number of lines, and whether CRLF and LF endings are mixed."""
    found: set[int] = set()
    newlines = 0  # in the file before the current chunk
    crlf = 0
    tail = b""  # the last bytes before the chunk, so patterns across chunks are seen
    with open(path, "rb") as fh:
        first = fh.read(2)
        if first.startswith((b"\n", b"\r\n")):
            found.add(1)
        fh.seek(0)
        while chunk := fh.read(CHUNK):
            data = tail + chunk
            before = newlines - tail.count(b"\n")
            for pattern in (b"\n\n", b"\n\r\n"):
                start = 0
                while (pos := data.find(pattern, start)) != -1:
                    # the empty line starts right after the newline at data[pos]
                    found.add(before + data.count(b"\n", 0, pos + 1) + 1)
                    start = pos + 1
            newlines += chunk.count(b"\n")
            crlf += data.count(b"\r\n") - tail.count(b"\r\n")
            tail = data[-2:]
    # a final newline ends the last line; nothing comes after it
    lines = newlines + (1 if tail and not tail.endswith(b"\n") else 0)
    mixed = 0 < crlf < newlines
    return tuple(sorted(n for n in found if n <= newlines)), lines, mixed


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _first_bad(path: Path, encoding: str) -> str:
    line = 1
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                return f"line {line}, byte {exc.start} of the line is not {encoding}"
            line += 1
    return "undecodable bytes"


def read_header(path: Path, encoding: str, delimiter: str) -> tuple[str, ...]:
    codec = "gb18030" if encoding == "gbk" else encoding
    with open(path, encoding=codec, newline="") as fh:
        first = fh.readline()
    # a byte-order mark comes before any quoting: strip it before the CSV is parsed
    first = first.removeprefix("\ufeff")
    if not first.strip():
        raise InputError(path, "is empty: no header line")
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    header = tuple(h.strip() for h in row)
    dupes = {h for h in header if header.count(h) > 1}
    if dupes:
        raise InputError(path, f"header repeats {', '.join(sorted(dupes))}")
    return header


def open_source(path: Path, stated_encoding: str | None, delimiter: str) -> SourceFile:
    if path.suffix.lower() == ".parquet":
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InputError(path, f"is not a readable Parquet file ({exc})") from None
        return SourceFile(path, "parquet", "utf-8", tuple(schema.names), file_digest(path))
    encoding, digest = detect_encoding(path, stated_encoding)
    blanks, lines, mixed = line_facts(path)
    return SourceFile(
        path, "csv", encoding, read_header(path, encoding, delimiter), digest, delimiter, blanks, lines, mixed
    )


def transcode_to_utf8(src: SourceFile, dest: Path) -> Path:
    """A UTF-8 copy of a GBK file, streamed (DuckDB reads UTF-8)."""
    decoder = codecs.getincrementaldecoder("gb18030")(errors="strict")
    with open(src.path, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(decoder.decode(chunk).encode("utf-8"))
        fout.write(decoder.decode(b"", final=True).encode("utf-8"))
    return dest

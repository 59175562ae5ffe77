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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kequn.core.errors import InputError

CHUNK = 1 << 24
NL, CR = ord("\n"), ord("\r")


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


@dataclass(frozen=True)
class TextFacts:
    """What one read of a text file tells: its encoding, the SHA-256 of its
    bytes, its empty lines (1-based), how many lines it has, and whether CRLF and
    LF endings are mixed."""

    encoding: str
    digest: str
    blank_lines: tuple[int, ...]
    lines: int
    mixed_endings: bool


def detect_encoding(path: Path, stated: str | None) -> TextFacts:
    """The file's text encoding (the stated one, checked, or UTF-8 or GBK), with
    the facts gathered in the same read."""
    tried = [stated] if stated else ["utf-8", "gb18030"]
    for enc in tried:
        try:
            normal = codecs.lookup(enc).name
        except LookupError:
            raise InputError(path, f"unknown encoding {enc!r}") from None
        if normal in ("gbk", "gb2312"):
            normal = "gb18030"  # a superset: decodes every GBK file
        facts = _read_through(path, normal)
        if facts is not None:
            return facts
    if stated:
        raise InputError(path, f"cannot be read as {stated}: {_first_bad(path, stated)}")
    raise InputError(path, f"text is neither UTF-8 nor GBK: {_first_bad(path, 'utf-8')}; state the encoding")


class _Lines:
    """Empty lines, line count and mixed endings of bytes fed chunk by chunk (LF
    or CRLF endings; both encodings read here keep ``\n`` and ``\r`` as bytes).

    Each chunk is read as an array of bytes: the file's newlines are found in one
    vectorised pass, and a newline right after another (or after ``\r`` right
    after another) ends an empty line. A loop of byte searches here cost most of
    the read of a large transactions file."""

    def __init__(self) -> None:
        self.blank: list[np.ndarray] = []
        self.newlines = 0  # in the file before the current chunk
        self.crlf = 0
        # the two bytes before the chunk; before the file, as if a line had just
        # ended, so that a file opening with an empty line finds it
        self.tail = b"\n\n"
        self.fed = 0

    def feed(self, chunk: bytes) -> None:
        data = np.frombuffer(chunk, dtype=np.uint8)
        at = np.flatnonzero(data == NL)  # each newline
        if len(at):
            if CR in self.tail or b"\r" in chunk:
                # the byte before each newline, and the one before that (the tail's
                # bytes for a newline at the chunk's start)
                tail = np.frombuffer(self.tail, dtype=np.uint8)
                before = np.where(at >= 1, data[np.maximum(at - 1, 0)], tail[1])
                second = np.where(at >= 2, data[np.maximum(at - 2, 0)], tail[np.minimum(at, 1)])
                empty = (before == NL) | ((before == CR) & (second == NL))
                self.crlf += int(np.count_nonzero(before == CR))
            else:
                # LF endings alone (most files): two newlines side by side end an empty line
                empty = np.empty(len(at), dtype=bool)
                empty[0] = at[0] == 0 and self.tail[1] == NL
                empty[1:] = np.diff(at) == 1
            self.blank.append(self.newlines + np.flatnonzero(empty) + 1)
            self.newlines += len(at)
        self.fed += len(chunk)
        self.tail = (self.tail + chunk[-2:])[-2:]

    def facts(self) -> tuple[tuple[int, ...], int, bool]:
        # a final newline ends the last line; nothing comes after it
        lines = self.newlines + (1 if self.fed and not self.tail.endswith(b"\n") else 0)
        blanks = tuple(int(n) for part in self.blank for n in part)
        return blanks, lines, 0 < self.crlf < self.newlines


def _utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is whole UTF-8, checked by Arrow: several times faster than
    decoding it, and no text is made."""
    if not len(data):
        return True
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_utf8(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


class _Utf8:
    """UTF-8 validity of bytes fed chunk by chunk. Each chunk is checked up to its
    last newline (a newline byte is never part of a longer UTF-8 character); the
    rest is checked with the next chunk's first line."""

    def __init__(self) -> None:
        self.carry = b""

    def feed(self, chunk: bytes) -> bool:
        if not self.carry and chunk.isascii():
            return True
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            self.carry += chunk
            return True
        first = chunk.find(b"\n") + 1
        whole = _utf8(self.carry + chunk[:first]) and _utf8(memoryview(chunk)[first:cut])
        self.carry = chunk[cut:]
        return whole

    def end(self) -> bool:
        return _utf8(self.carry)


def _read_through(path: Path, encoding: str) -> TextFacts | None:
    """The file's facts if all of it decodes as ``encoding``, else None: one read
    checks the text, hashes and counts lines."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    utf8 = _Utf8() if encoding == "utf-8" else None
    sha = hashlib.sha256()
    lines = _Lines()
    # the hash runs on a thread of its own beside the rest (hashlib lets go of the
    # GIL for a large buffer), one chunk at a time
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kequn-sha")
    hashed: Future[None] | None = None
    with open(path, "rb") as fh, hashing:
        try:
            while chunk := fh.read(CHUNK):
                if hashed is not None:
                    hashed.result()
                hashed = hashing.submit(sha.update, chunk)
                if utf8 is not None:
                    if not utf8.feed(chunk):
                        return None
                # ASCII is text in both encodings read here: only the rest is decoded
                # (and every chunk while the decoder holds part of a character)
                elif not chunk.isascii() or decoder.getstate()[0]:
                    decoder.decode(chunk)
                lines.feed(chunk)
            if hashed is not None:
                hashed.result()
            if utf8 is not None and not utf8.end():
                return None
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    named = "gbk" if encoding == "gb18030" else encoding
    return TextFacts(named, sha.hexdigest(), *lines.facts())


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def physical_lines(path: Path, numbers: set[int], chunk_size: int = CHUNK) -> dict[int, bytes]:
    """The bytes of each of the file's physical lines ``numbers`` (from 1, split
    at ``\n``; a CRLF line keeps its ``\r``). Newlines are counted chunk by
    chunk; only a chunk that holds a wanted line is searched for where it is."""
    wanted = sorted(numbers)
    found: dict[int, bytes] = {}
    at = 0  # the next wanted line's index in ``wanted``
    first = 1  # the number of the line ``rest`` begins
    rest = b""  # the line the last chunk left unfinished
    with open(path, "rb") as fh:
        while at < len(wanted) and (chunk := fh.read(chunk_size)):
            data = rest + chunk
            ended = data.count(b"\n")  # lines that end in ``data``
            if ended and wanted[at] < first + ended:
                ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == NL)
                while at < len(wanted) and wanted[at] < first + ended:
                    k = wanted[at] - first
                    begin = int(ends[k - 1]) + 1 if k else 0
                    found[wanted[at]] = data[begin : int(ends[k])]
                    at += 1
            if ended:
                rest = data[data.rfind(b"\n") + 1 :]
                first += ended
            else:
                rest = data
    if at < len(wanted) and wanted[at] == first and rest:  # a last line with no newline
        found[first] = rest
    return found


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
    blank = [i for i, h in enumerate(header, start=1) if not h]
    if blank:
        # a column without a name cannot be mapped or read: say which, not crash on it
        raise InputError(path, f"header names no column at position {', '.join(map(str, blank))}")
    dupes = {h for h in header if header.count(h) > 1}
    if dupes:
        raise InputError(path, f"header repeats {', '.join(sorted(dupes))}")
    # a NUL or another control character names no column a bank meant (and would
    # end the name in the SQL the reader is given)
    spoilt = [i for i, h in enumerate(header, start=1) if any(ord(ch) < 32 or ord(ch) == 127 for ch in h)]
    if spoilt:
        raise InputError(path, f"header holds a control character in column {', '.join(map(str, spoilt))}")
    return header


def open_source(path: Path, stated_encoding: str | None, delimiter: str) -> SourceFile:
    if path.suffix.lower() == ".parquet":
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InputError(path, f"is not a readable Parquet file ({exc})") from None
        return SourceFile(path, "parquet", "utf-8", tuple(schema.names), file_digest(path))
    facts = detect_encoding(path, stated_encoding)
    return SourceFile(
        path,
        "csv",
        facts.encoding,
        read_header(path, facts.encoding, delimiter),
        facts.digest,
        delimiter,
        facts.blank_lines,
        facts.lines,
        facts.mixed_endings,
    )


def transcode_to_utf8(src: SourceFile, dest: Path) -> Path:
    """A UTF-8 copy of a GBK file, streamed (DuckDB reads UTF-8)."""
    decoder = codecs.getincrementaldecoder("gb18030")(errors="strict")
    with open(src.path, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(decoder.decode(chunk).encode("utf-8"))
        fout.write(decoder.decode(b"", final=True).encode("utf-8"))
    return dest

"""The facts one read of a text file gives (its lines, empty lines, endings and
encoding), held to what splitting the whole text at once says, whatever the
chunks the file is read in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.ingest import sources
from kequn.ingest.sources import _Lines, detect_encoding


def reference(data: bytes) -> tuple[tuple[int, ...], int, bool]:
    newlines = data.count(b"\n")
    lines = newlines + (1 if data and not data.endswith(b"\n") else 0)
    ended = data.split(b"\n")[:newlines]  # the lines a newline ends
    blank = tuple(i for i, line in enumerate(ended, start=1) if line in (b"", b"\r"))
    crlf = data.count(b"\r\n")
    return blank, lines, 0 < crlf < newlines


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b",", b"\xe4\xb8\xad"]), max_size=60), st.data()
)
def test_lines_read_in_any_chunks_agree_with_the_whole_text(parts: list[bytes], data: st.DataObject) -> None:
    text = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    lines = _Lines()
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        if b > a:
            lines.feed(text[a:b])
    assert lines.facts() == reference(text)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            # ASCII, newlines, whole characters of two, three and four bytes, and
            # the pieces that are not UTF-8: a lone continuation byte, a cut lead,
            # an overlong form, a surrogate, a code point past U+10FFFF, 0xFF
            [
                b"a",
                b"\n",
                b"\xc3\xa9",
                b"\xe4\xb8\xad",
                b"\xf0\x9f\x98\x80",
                b"\x80",
                b"\xe4\xb8",
                b"\xc0\xaf",
                b"\xed\xa0\x80",
                b"\xf4\x90\x80\x80",
                b"\xff",
            ]
        ),
        max_size=40,
    ),
    st.data(),
)
def test_utf8_checked_in_any_chunks_agrees_with_decoding_the_whole_text(
    parts: list[bytes], data: st.DataObject
) -> None:
    """The fast UTF-8 check (Arrow's, chunk by chunk) says what Python's strict
    decoder says of the whole text: GBK is told from UTF-8 by it."""
    text = b"".join(parts)
    try:
        text.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    checker = sources._Utf8()
    whole = True
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        if b > a:
            whole = checker.feed(text[a:b]) and whole
    assert (whole and checker.end()) == expected


def test_a_gbk_file_read_in_small_chunks_is_gbk_and_its_lines_are_counted(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """ASCII chunks are not decoded; a chunk that cuts a GBK character in two is,
    and the character's second byte (ASCII-range in GBK) is read with its first."""
    text = ("客户,金额\n" + "张三,1.00\n\n" * 50 + "李四@,2.00\r\n").encode("gbk")
    path = tmp_path / "t.csv"
    path.write_bytes(text)
    monkeypatch.setattr(sources, "CHUNK", 7)
    facts = detect_encoding(path, None)
    assert facts.encoding == "gbk"
    assert (facts.blank_lines, facts.lines, facts.mixed_endings) == reference(text)
    (tmp_path / "bad.csv").write_bytes(b"abc\n" * 10 + b"\xff\xfe\n")
    assert sources._read_through(tmp_path / "bad.csv", "utf-8") is None


def test_a_header_with_a_control_character_is_refused_naming_the_column(tmp_path: Path) -> None:
    from kequn.core.errors import InputError
    from kequn.ingest.sources import read_header

    path = tmp_path / "customers.csv"
    path.write_bytes(b'"\x00customer_id",name\nC1,a\n')
    with pytest.raises(InputError, match="control character in column 1"):
        read_header(path, "utf-8", ",")

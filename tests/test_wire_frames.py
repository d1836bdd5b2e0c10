"""The server's frame parser without sockets: any split of the bytes, any garbage."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from symphony.wire.frames import BINARY, CLOSE, PING, TEXT, FrameError, FrameReader, close_frame


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes(((0x80 if fin else 0) | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes(((0x80 if fin else 0) | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes(((0x80 if fin else 0) | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_all(reader: FrameReader, chunks: list[bytes]) -> list[tuple[int, object]]:
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        while (got := reader.next()) is not None:
            out.append(got)
    return out


@given(
    messages=st.lists(st.binary(max_size=70000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=300000), max_size=12),
)
def test_frames_any_split_gives_the_same_messages(messages, cuts):
    data = b"".join(frame(BINARY, m) for m in messages)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    got = read_all(FrameReader(max_message_size=1 << 20), chunks)
    assert got == [(BINARY, m) for m in messages]


def test_frames_fragments_join_and_controls_pass_between():
    data = (
        frame(TEXT, "héllo ".encode()[:2], fin=False)
        + frame(PING, b"p")
        + frame(0x0, "héllo wörld".encode()[2:])
    )
    assert read_all(FrameReader(max_message_size=100), [data]) == [
        (PING, b"p"),
        (TEXT, "héllo wörld"),
    ]


def test_frames_close_frame_codes_and_reasons():
    reader = FrameReader(max_message_size=100)
    reader.feed(frame(CLOSE, b""))
    assert reader.next() == (CLOSE, (1005, ""))
    reader.feed(frame(CLOSE, (4001).to_bytes(2, "big") + "ça".encode()))
    assert reader.next() == (CLOSE, (4001, "ça"))
    reader.feed(frame(CLOSE, (1000).to_bytes(2, "big") + b"\xff"))
    with pytest.raises(FrameError) as info:
        reader.next()
    assert info.value.code == 1007


def test_frames_a_too_long_message_is_refused_from_its_header():
    reader = FrameReader(max_message_size=1000)
    reader.feed(bytes((0x82, 0xFF)) + (1 << 40).to_bytes(8, "big"))  # no mask, no payload yet
    with pytest.raises(FrameError) as info:
        reader.next()
    assert info.value.code == 1009


def test_frames_length_must_be_in_its_shortest_form():
    reader = FrameReader(max_message_size=1000)
    reader.feed(bytes((0x82, 0x80 | 126)) + (5).to_bytes(2, "big") + os.urandom(9))
    with pytest.raises(FrameError, match="shortest"):
        reader.next()


def test_frames_close_frame_builder_cuts_long_reasons_on_a_character():
    built = close_frame(1002, "é" * 100)
    assert built[0] == 0x88 and built[1] <= 125
    assert int.from_bytes(built[2:4], "big") == 1002
    built[4:].decode("utf-8")  # whole characters only


@given(data=st.binary(max_size=2000), size=st.integers(min_value=1, max_value=64))
def test_frames_garbage_only_ever_raises_frame_error(data, size):
    reader = FrameReader(max_message_size=512)
    try:
        for start in range(0, len(data), size):
            reader.feed(data[start : start + size])
            while reader.next() is not None:
                pass
    except FrameError as error:
        assert error.code in (1002, 1007, 1009)

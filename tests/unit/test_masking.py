"""The mask scanner that enforces RFC 6455 section 5.1 on the server's websockets."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from rtdata.server.masking import MaskScanner


def frame(payload: bytes, *, masked: bool, opcode: int = 0x1) -> bytes:
    """One client frame; the payload is left as is (the scanner never reads it)."""
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, mask_bit | size])
    elif size < 2**16:
        head = bytes([0x80 | opcode, mask_bit | 126]) + struct.pack("!H", size)
    else:
        head = bytes([0x80 | opcode, mask_bit | 127]) + struct.pack("!Q", size)
    return head + (b"\x01\x02\x03\x04" if masked else b"") + payload


def feed_in_chunks(scanner: MaskScanner, stream: bytes, cuts: list[int]) -> int | None:
    """Feed ``stream`` cut at ``cuts``; return the stream offset of the refusal, if any."""
    start = 0
    for cut in [*sorted(set(cuts)), len(stream)]:
        chunk = stream[start:cut]
        at = scanner.feed(chunk)
        if at is not None:
            return start + at
        start = cut
    return None


payloads = st.binary(max_size=300) | st.sampled_from([b"x" * 126, b"y" * 65_535, b"z" * 65_536])


@given(st.lists(payloads, max_size=6), st.lists(st.integers(0, 200_000), max_size=8))
def test_masked_frames_in_any_chunking_are_never_refused(
    bodies: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(frame(body, masked=True) for body in bodies)
    scanner = MaskScanner()
    assert feed_in_chunks(scanner, stream, [c for c in cuts if c < len(stream)]) is None
    assert not scanner.refused


@given(
    st.lists(payloads, max_size=4),
    payloads,
    st.lists(st.integers(0, 200_000), max_size=8),
)
def test_the_first_unmasked_frame_is_found_where_it_starts(
    before: list[bytes], body: bytes, cuts: list[int]
) -> None:
    prefix = b"".join(frame(b, masked=True) for b in before)
    stream = prefix + frame(body, masked=False) + frame(b"after", masked=True)
    scanner = MaskScanner()
    at = feed_in_chunks(scanner, stream, [c for c in cuts if c < len(stream)])
    assert at is not None
    # Exact, unless a cut split the frame's first two bytes: then 0 in the chunk that holds
    # the second one.
    assert at == len(prefix) or (at == len(prefix) + 1 and len(prefix) + 1 in cuts)
    assert scanner.refused
    assert scanner.feed(b"anything") == 0


def test_unmasked_frame_in_one_chunk_is_found_at_its_offset() -> None:
    first = frame(b'{"a":1}', masked=True)
    stream = first + frame(b"plain", masked=False)
    assert MaskScanner().feed(stream) == len(first)


def test_unmasked_control_frame_is_refused_too() -> None:
    assert MaskScanner().feed(frame(b"\x03\xe8", masked=False, opcode=0x8)) == 0

"""The fast decode path on the frames a real local server emits: it decodes them as the official
client does."""

from __future__ import annotations

import asyncio

from rtdata.server import LocalServer
from tests.integration.test_contract import _capture
from tests.unit.test_fastpath import official, ours


def test_the_servers_frames_decode_as_the_official_client_decodes_them(
    shared_server: LocalServer,
) -> None:
    frames = asyncio.run(_capture(shared_server))
    changes = 0
    for text in frames:
        expected = official(text)
        assert ours(text) == expected
        changes += expected is not None
    assert changes == 3  # the INSERT, UPDATE and DELETE the capture makes

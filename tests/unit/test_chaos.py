"""The chaos bench's pure helpers and the malformed frames fault's frames (no sockets)."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError
from realtime._async.client import ServerMessageAdapter

from rtdata import bench
from rtdata.bench.chaos import (
    FAULT_KINDS,
    Divergence,
    compare_rows,
    duplicate_gaps,
    fault_schedule,
    percentile,
)
from rtdata.cli import _parser
from rtdata.fastpath import change_frame
from rtdata.resync import Gap
from rtdata.server.faults import MALFORMED_KINDS, FaultError, malformed_frames


def test_chaos_is_opt_in_and_accepted_by_bench_only() -> None:
    assert "chaos" in bench.OPT_IN
    assert "chaos" not in bench.SECTIONS
    assert _parser().parse_args(["bench", "--only", "chaos"]).only == ["chaos"]
    assert "``chaos``" in (bench.__doc__ or "")


def test_compare_rows_counts_missing_extra_and_different_rows() -> None:
    database = {"1": {"id": 1, "v": "a"}, "2": {"id": 2, "v": "b"}, "3": {"id": 3, "v": "c"}}
    mine = {"1": {"id": 1, "v": "a"}, "2": {"id": 2, "v": "B"}, "4": {"id": 4, "v": "d"}}
    assert compare_rows(database, mine) == Divergence(missing=1, extra=1, different=1)
    assert compare_rows(database, dict(database)).total == 0
    assert (Divergence(1, 0, 2) + Divergence(0, 3, 0)).total == 6


def test_duplicate_gaps_are_records_overlapping_an_earlier_period() -> None:
    apart = [Gap(0, 10, 1), Gap(20, 30, 0), Gap(30, 40, 2)]  # touching is not overlapping
    assert duplicate_gaps(apart) == 0
    assert duplicate_gaps([*apart, Gap(20, 30, 0)]) == 1  # the same gap twice
    assert duplicate_gaps([Gap(0, 100, 1), Gap(10, 20, 0), Gap(50, 60, 0)]) == 2
    assert duplicate_gaps([]) == 0


def test_fault_schedule_takes_turns() -> None:
    assert fault_schedule(("a", "b"), 2) == ["a", "b", "a", "b"]
    schedule = fault_schedule(FAULT_KINDS, 4)
    assert len(schedule) == 20
    assert all(schedule.count(k) == 4 for k in FAULT_KINDS)


def test_percentile_interpolates_and_is_nan_when_empty() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 99) == pytest.approx(9.9)
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) != percentile([], 50)  # NaN


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
def test_malformed_frames_are_one_of_each_kind(vsn: str) -> None:
    frames = malformed_frames("realtime:room", vsn, [7])
    assert len(frames) == len(MALFORMED_KINDS)
    not_json, wrong_types, truncated, binary, keyless = frames
    for text in (not_json, truncated):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)
    assert isinstance(binary, bytes)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(binary)
    shape = dict if vsn == "1.0.0" else list
    assert isinstance(orjson.loads(wrong_types), shape)
    assert isinstance(orjson.loads(keyless), shape)
    assert malformed_frames("realtime:room", vsn, [7], ["binary"]) == [binary]


def test_realtime_py_rejects_every_malformed_frame_but_the_keyless_change() -> None:
    # What the official client (vsn 1.0.0) does with each: drop it with a log line, except the
    # keyless change, which is well formed and reaches the channel's callbacks.
    frames = malformed_frames("realtime:room", "1.0.0", [7])
    for frame in frames[:-1]:
        with pytest.raises(ValidationError):
            ServerMessageAdapter.validate_json(frame)
        assert change_frame(frame if isinstance(frame, str) else frame.decode("latin-1")) is None
    keyless = ServerMessageAdapter.validate_json(frames[-1])
    assert type(keyless).__name__ == "PostgresChangesMessage"
    found = change_frame(str(frames[-1]))
    assert found is not None
    assert found[1]["data"]["record"] == {}


def test_an_unknown_malformed_kind_is_a_fault_error() -> None:
    with pytest.raises(FaultError, match="unknown malformed frame kind 'nope'"):
        malformed_frames("realtime:room", "1.0.0", [], ["nope"])

"""Fuzz: the REST API run from its own OpenAPI description with Schemathesis, on both backends.

Schemathesis reads the description the local server serves at ``/rest/v1/`` (PostgREST's
Swagger 2.0 document: every table's operations, their filters, ``select``, ``order``,
``Range``, ``Prefer`` and bodies) and generates requests from it, valid and invalid. Each
response must be no 5xx and come within the timeout (no hang), and a rejected write must leave
its table as it was. The counts of one run go to ``tests/artifacts/fuzz-rest-<backend>.json``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from rtdata.server import LocalServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
EXAMPLES_PER_OPERATION = int(os.environ.get("RTDATA_FUZZ_EXAMPLES", "12"))
"""Requests generated per operation (33 operations on the hospital schema): 12 keeps the gate
within the fast layer's budget; ``make explore`` asks for more (``RTDATA_FUZZ_EXAMPLES``)."""
TIMEOUT_S = 10.0
"""A response slower than this counts as a hang."""
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


def _headers(server: LocalServer) -> dict[str, str]:
    return {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}


def _rows(server: LocalServer, table: str) -> bytes:
    """The table's rows, in a canonical order, as the service role reads them."""
    response = httpx.get(
        f"{server.url}/rest/v1/{table}", headers=_headers(server), timeout=TIMEOUT_S
    )
    assert response.status_code == 200, response.text
    rows = sorted(response.json(), key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    return orjson.dumps(rows, option=orjson.OPT_SORT_KEYS)


def _fuzz(operation: Any, check: Any) -> None:
    """Run ``check`` on the requests Hypothesis generates for one operation."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=settings.default.derandomize,  # fixed in the gate, fresh in explore
        database=None,
        phases=[Phase.generate],  # no shrinking: a failure is reported as generated
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        check(case)

    run()


def test_the_rest_api_answers_every_generated_request_without_5xx_hang_or_wrong_write(
    shared_server: LocalServer, request: pytest.FixtureRequest
) -> None:
    server = shared_server
    headers = _headers(server)
    document = httpx.get(f"{server.url}/rest/v1/", headers=headers, timeout=TIMEOUT_S).json()
    schema = schemathesis.openapi.from_dict(document)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    session = requests.Session()

    def check(case: Any, table: str) -> None:
        method = case.method.upper()
        before = _rows(server, table) if method in WRITES and table else None
        counts["inputs"] += 1
        try:
            response = case.call(
                base_url=f"{server.url}/rest/v1",
                session=session,
                headers={**headers, **(case.headers or {})},
                timeout=TIMEOUT_S,
            )
        except requests.Timeout:
            counts["hangs"] += 1
            failures.append(f"hang: {method} {case.formatted_path}")
            return
        status = response.status_code
        counts[f"{status // 100}xx"] += 1
        if status >= 500:
            failures.append(f"{status}: {method} {case.formatted_path} {response.text[:200]}")
        if before is not None and status >= 400 and _rows(server, table) != before:
            counts["wrong_writes"] += 1
            failures.append(f"rejected {method} changed {table}: {status}")

    for result in schema.get_all_operations():
        operation = result.ok()
        _fuzz(operation, lambda case, op=operation: check(case, op.path.strip("/")))
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("shared_server", "memory")
    summary = {"inputs": 0, "2xx": 0, "4xx": 0, "5xx": 0, "hangs": 0, "wrong_writes": 0}
    summary.update(counts)
    (ARTIFACTS / f"fuzz-rest-{backend}.json").write_text(json.dumps(summary, indent=2) + "\n")
    assert counts["inputs"] >= 100
    assert failures == [], failures[:10]

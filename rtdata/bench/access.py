"""``access``: what sign-in adds to a page render, beside the same render without it, in one run.

The router (:data:`rtdata.dashboard.APP`, whose gate decides who sees what) renders the hospital
pack's first page in Streamlit's AppTest, with the pack's stream buffered, alternately:

- open: no ``[access]`` (the baseline);
- signed in: ``[access] require_sign_in = true``, with a session signed in as an admin whose
  access token is far from expiry, so no refresh is due (a refresh is one call to GoTrue a
  minute before expiry, not part of a render);
- scoped: the same, signed in as a user under a row scope (``[[access.scopes]]``) that keeps
  one hospital's rows (:data:`SCOPE_COLUMN` of the stream's pack): every table, event snapshot
  and presence read of the page goes through :class:`rtdata.scoped.ScopedReader`.

Each run starts from an empty view cache (:func:`rtdata.bench.pages.forget_views`), and the
three alternate, so the machine's load falls on all alike. The time is of ``AppTest.run`` as a whole
(the router, the gate and the page), the p50 of ``runs`` renders each.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Final

import numpy as np

from rtdata.bench.common import Figure

__all__ = ["SCOPE_COLUMN", "bench_access"]

SCOPE_COLUMN: Final = "hospital_id"
"""The column the scoped render keeps one value of (the stream's pack, the hospital network,
has it in most tables; its ``hospitals`` table is keyed by ``id``)."""


_SCRIPT_CONTEXT_LOGGER: Final = "streamlit.runtime.scriptrunner_utils.script_run_context"


class _NoBareModeWarning(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "missing ScriptRunContext" not in record.getMessage()


def bench_access(events: int = 100_000, runs: int = 15) -> list[Figure]:
    """Render the router's first page ``runs`` times each open, signed in and scoped."""
    from streamlit.testing.v1 import AppTest

    from rtdata import ui
    from rtdata.access import AccessConfig
    from rtdata.bench import stream
    from rtdata.bench.pages import forget_views
    from rtdata.dashboard import APP
    from rtdata.scope import ScopeRule
    from rtdata.signin import SignedIn

    recorder = stream.recorder(stream.pack_config(""))
    stream.fill(recorder, events)
    open_settings = recorder.settings
    gated = dataclasses.replace(open_settings.config, access=AccessConfig(require_sign_in=True))
    signed_settings = dataclasses.replace(open_settings, config=gated, tables=None).with_project(
        "http://127.0.0.1:9", "bench-service-key", "bench-anon-key"
    )
    admin = SignedIn(
        email="admin@bench.test",
        user_id="00000000-0000-4000-8000-000000000001",
        claims={"sub": "1", "role": "authenticated", "app_metadata": {"role": "admin"}},
        expires_at_s=time.time() + 3600,
        access_token="bench-access",
        refresh_token="bench-refresh",
    )
    rule = ScopeRule(("staff",), "app_metadata.site", SCOPE_COLUMN, {"hospitals": "id"})
    scoped_access = dataclasses.replace(gated.access, scopes=(rule,))
    scoped_settings = dataclasses.replace(
        signed_settings,
        config=dataclasses.replace(gated, access=scoped_access),
        tables=None,
    )
    site = recorder.table("hospitals")["id"].iloc[0]
    staff = dataclasses.replace(
        admin, claims={**admin.claims, "app_metadata": {"role": "staff", "site": int(site)}}
    )
    modes = {
        "open": (open_settings, None),
        "signed": (signed_settings, admin),
        "scoped": (scoped_settings, staff),
    }
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    ui.use_recorder(recorder)
    # Setting a test session's state from this thread makes Streamlit warn, each time, that
    # the thread has no script context: true, and beside the point of a benchmark.
    bare_mode = logging.getLogger(_SCRIPT_CONTEXT_LOGGER)
    quiet = _NoBareModeWarning()  # a filter: Streamlit resets its loggers' levels on each run
    bare_mode.addFilter(quiet)
    try:
        for i in range(runs + 1):  # the first round imports and warms what every later reuses
            for mode, (settings, user) in modes.items():
                recorder.settings = settings
                app = AppTest.from_file(str(APP), default_timeout=120)
                if user is not None:
                    app.session_state["rtdata_signed_in"] = user
                forget_views()
                start = time.perf_counter()
                app.run()
                elapsed_ms = (time.perf_counter() - start) * 1000
                if app.exception:
                    raise RuntimeError(f"the router raised: {app.exception[0].message}")
                if user is not None and any(t.value == "Sign in" for t in app.title):
                    raise RuntimeError("the signed-in render drew the sign-in form")
                if mode == "scoped" and not any(
                    "Rows shown" in str(c.value) for c in app.sidebar.caption
                ):
                    raise RuntimeError("the scoped render was not scoped")
                if i:
                    times[mode].append(elapsed_ms)
    finally:
        recorder.settings = open_settings
        ui.use_recorder(None)
        bare_mode.removeFilter(quiet)
    open_ms, signed_ms, scoped_ms = (float(np.median(times[m])) for m in modes)
    size = f"{events:,}"
    return [
        Figure(
            "access.render_open_p50_ms",
            open_ms,
            "ms",
            f"the router's first page, no [access], {size} events buffered, p50 of {runs}",
        ),
        Figure(
            "access.render_signed_in_p50_ms",
            signed_ms,
            "ms",
            f"the same, signed in (require_sign_in), p50 of {runs}",
            "access.render_open_p50_ms",
        ),
        Figure(
            "access.sign_in_overhead_p50_ms",
            signed_ms - open_ms,
            "ms",
            "what sign-in adds to a render, p50 against p50 (target ≤ 50 ms)",
            "access.render_open_p50_ms",
        ),
        Figure(
            "access.render_scoped_p50_ms",
            scoped_ms,
            "ms",
            f"the same, signed in under a row scope (one {SCOPE_COLUMN}), p50 of {runs}",
            "access.render_signed_in_p50_ms",
        ),
        Figure(
            "access.scoping_overhead_p50_ms",
            scoped_ms - signed_ms,
            "ms",
            "what a row scope adds to a signed-in render, p50 against p50",
            "access.render_signed_in_p50_ms",
        ),
    ]

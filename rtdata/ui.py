"""Streamlit glue shared by every page: the one shared recorder, page chrome, live regions.

This module and the dashboard's scripts (:mod:`rtdata.dashboard`) are all that imports
Streamlit. The collector is created once per server process with ``st.cache_resource`` and
shared by every session; pages read snapshots from
its :class:`rtdata.recorder.Recorder` (through :func:`cached_view`, computed once for every
viewer) and never talk to a service themselves.

A page is::

    recorder = ui.page("Events")               # chrome: sidebar indicator, stale banner, wall mode

    @ui.live()                                 # st.fragment(run_every=refresh interval)
    def board() -> None:
        rows = ui.cached_view("tail", recorder, lambda: views.events.tail(...))
        st.dataframe(rows)

    board()

Configured pages are drawn by :mod:`rtdata.dashboard.render` from :func:`pages`, one widget
at a time, in the same way.

Plotly figures are drawn with :func:`chart`, which gives them the dark, large-type look of a wall
display (``?wall=1``) there and leaves them as built everywhere else.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import plotly.graph_objects as go
import streamlit as st

from rtdata import audit, kiosk
from rtdata.access import (
    ROLE_COLUMN_CLAIM,
    AccessConfig,
    Decision,
    Refusal,
    decide,
    scope_for,
    wall_only,
)
from rtdata.collector import Collector
from rtdata.embedded import EmbeddedStack
from rtdata.lifecycle import ConnectionState
from rtdata.recorder import Recorder
from rtdata.scope import RowScope
from rtdata.scoped import Reader, ScopedReader
from rtdata.settings import Settings
from rtdata.signin import ProjectAuth, SignedIn, SignInRefused
from rtdata.views.charts import wall_figure
from rtdata.views.connection import connection_indicator
from rtdata.views.widgets.tiles import TileHistory

if TYPE_CHECKING:
    from rtdata.default_pages import DefaultLayout
    from rtdata.layout import Label, Page

__all__ = [
    "DEFAULT_PAGES_MAX_AGE_S",
    "KIOSK_PARAM",
    "access",
    "audit_once",
    "cached_view",
    "chart",
    "config_problems",
    "connection_badge",
    "is_wall",
    "kiosk_access",
    "kiosk_refusal",
    "labels",
    "live",
    "page",
    "page_decision",
    "pages",
    "recorder",
    "refresh_interval_s",
    "refusal",
    "shared_recorder",
    "sign_in_form",
    "sign_out_control",
    "signed_in",
    "stale_banner",
    "tile_history",
    "use_recorder",
    "user_scope",
    "view_computations",
    "who",
]

T = TypeVar("T")

STALE_AFTER_S: Final = 10.0
"""Without a live subscription, or with no event for this long on a busy feed, data is stale."""

_override: Recorder | None = None


@dataclass(frozen=True)
class _Shared:
    collector: Collector
    stack: EmbeddedStack | None  # the embedded default, kept alive as long as the collector


@st.cache_resource(show_spinner="Connecting to the realtime feed…")
def _shared() -> _Shared:
    settings = Settings.from_env()
    if not settings.embedded:
        return _Shared(Collector(settings).start(), None)
    stack = EmbeddedStack().start()
    shared = Collector(stack.settings(settings)).start(wait=True)
    stack.start_simulator()
    return _Shared(shared, stack)


def use_recorder(shared: Recorder | None) -> None:
    """Make every page read ``shared`` instead of the configured collector's recorder
    (``None`` resets). For tests and benchmarks that fill a recorder themselves; the
    Reconnect button then does nothing.
    """
    global _override
    _override = shared


def shared_recorder() -> Recorder:
    """Return the recorder every session shares, starting the shared collector on first use."""
    return _override if _override is not None else _shared().collector.recorder


def recorder() -> Reader:
    """Return what this session reads: the shared recorder, or, for a signed-in user under a
    row scope (``[[access.scopes]]``), that recorder through their scope
    (:class:`rtdata.scoped.ScopedReader`): every page and widget then sees only their rows."""
    shared = shared_recorder()
    scope = user_scope(shared)
    return shared if scope is None else ScopedReader(shared, scope)


def user_scope(shared: Reader | None = None) -> RowScope | None:
    """The row scope of the user signed in in this session, or ``None`` (every row)."""
    config = (shared if shared is not None else shared_recorder()).settings.config.access
    if not config.require_sign_in or not config.scopes:
        return None
    signed = signed_in()
    return scope_for(config, signed.claims if signed is not None else None)


def _reconnect() -> None:
    if _override is None:
        _shared().collector.reconnect()


_SIGNED_IN_KEY: Final = "rtdata_signed_in"
_SIGN_IN_NOTE_KEY: Final = "rtdata_sign_in_note"
_AUDITED_KEY: Final = "rtdata_audited"
KIOSK_PARAM: Final = "kiosk"
"""The query parameter of a kiosk URL (``?kiosk=<token>``, from ``rtdata kiosk create``)."""


def kiosk_access() -> kiosk.KioskGrant | kiosk.KioskRefusal | None:
    """The kiosk this session was opened as (``?kiosk=<token>``), checked against the kiosk
    file on every run, so a revoked or expired token is refused at the next refresh; ``None``
    without a token. A kiosk file that cannot be read refuses every token."""
    token = st.query_params.get(KIOSK_PARAM)
    if token is None:
        return None
    try:
        store = kiosk.load_store()
    except (kiosk.KioskStoreError, OSError):
        return kiosk.KioskRefusal(kiosk.KioskRefusalReason.UNKNOWN)
    outcome = kiosk.check(token, store, time.time())
    if isinstance(outcome, kiosk.KioskGrant):
        st.session_state[_KIOSK_NAME_KEY] = outcome.name
        actor = audit.kiosk_who(outcome.name)
        audit_once(audit.AuditAction.KIOSK_USED, ",".join(outcome.pages), actor=actor)
    else:
        actor = audit.kiosk_who(outcome.name) if outcome.name else audit.ANONYMOUS_WHO
        audit_once(audit.AuditAction.KIOSK_REFUSED, "", outcome.reason.value, actor=actor)
    return outcome


def who() -> str:
    """Who this session is, for the audit log: the signed-in email, ``kiosk:<name>``, or
    ``anonymous``."""
    signed = st.session_state.get(_SIGNED_IN_KEY)
    if isinstance(signed, SignedIn):
        return audit.user_who(signed.email)
    granted = st.session_state.get(_KIOSK_NAME_KEY)
    return audit.kiosk_who(granted) if isinstance(granted, str) else audit.ANONYMOUS_WHO


_KIOSK_NAME_KEY: Final = "rtdata_kiosk_name"


def audit_once(
    action: audit.AuditAction, what: str = "", outcome: str = "ok", *, actor: str | None = None
) -> None:
    """Record ``action`` by ``actor`` (default: :func:`who`) in the audit log once per browser
    session (a wall reruns every second: its kiosk use is one entry, not thousands)."""
    actor = who() if actor is None else actor
    seen = st.session_state.setdefault(_AUDITED_KEY, set())
    key = (action, what, outcome, actor)
    if key in seen:
        return
    seen.add(key)
    audit.record(action, actor, what, outcome)


def access() -> AccessConfig:
    """The ``[access]`` section of the shared collector's config."""
    return recorder().settings.config.access


def _with_role_column(auth: ProjectAuth, signed: SignedIn) -> SignedIn:
    """``signed`` with its ``[access] role_column`` value, when one is configured."""
    column = access().role_column
    if column is None:
        return signed
    table, name = column.split(".", 1)
    return auth.with_column(signed, table, name, ROLE_COLUMN_CLAIM)


def _project_auth() -> ProjectAuth | None:
    settings = recorder().settings
    if not settings.url or not settings.anon_key:
        return None
    return ProjectAuth(settings.url, settings.anon_key)


def signed_in() -> SignedIn | None:
    """The user signed in in this browser session, or ``None``.

    The session lives in Streamlit's per-session state on the server (the browser never holds
    the tokens) and is refreshed here when it expires within a minute; a refresh GoTrue
    refuses ends it, with a note for the sign-in form.
    """
    signed = st.session_state.get(_SIGNED_IN_KEY)
    if not isinstance(signed, SignedIn):
        return None
    if signed.needs_refresh(time.time()):
        auth = _project_auth()
        outcome = auth.refresh(signed) if auth is not None else None
        if auth is None or not isinstance(outcome, SignedIn):
            del st.session_state[_SIGNED_IN_KEY]
            if isinstance(outcome, SignInRefused):
                st.session_state[_SIGN_IN_NOTE_KEY] = outcome.message
            return None
        st.session_state[_SIGNED_IN_KEY] = signed = _with_role_column(auth, outcome)
    return signed


def page_decision(page_roles: tuple[str, ...]) -> Decision:
    """Whether this session may open a page whose roles are ``page_roles``
    (:func:`rtdata.access.decide` with the signed-in user's claims)."""
    signed = signed_in()
    return decide(access(), page_roles, signed.claims if signed is not None else None)


def sign_in_form() -> None:
    """Draw the sign-in form (email and password, checked by the project's GoTrue); on success
    the session is kept and the app reruns. Shows no data."""
    st.title("Sign in")
    auth = _project_auth()
    if auth is None:
        st.error(
            "This dashboard requires sign-in (`[access] require_sign_in`), but the project's"
            " anon key is not configured: set `SUPABASE_ANON_KEY` (or `anon_key` in the"
            " `[supabase]` table of `.streamlit/secrets.toml`)."
        )
        return
    note = st.session_state.pop(_SIGN_IN_NOTE_KEY, None)
    if note:
        st.info(note)
    with st.form("rtdata-sign-in"):
        email = st.text_input("Email", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    outcome = auth.sign_in(email, password)
    if isinstance(outcome, SignInRefused):
        audit.record(
            audit.AuditAction.SIGN_IN_FAILED, audit.user_who(email), outcome=outcome.reason.value
        )
        st.error(outcome.message)
        return
    audit.record(audit.AuditAction.SIGN_IN, audit.user_who(outcome.email))
    st.session_state[_SIGNED_IN_KEY] = _with_role_column(auth, outcome)
    st.rerun()


def sign_out_control() -> None:
    """In the sidebar: who is signed in, and a Sign out button that ends the session at the
    project and here."""
    signed = signed_in()
    if signed is None:
        return
    scope = user_scope()
    with st.sidebar:
        st.caption(f"Signed in as {signed.email}")
        if scope is not None:
            st.caption(
                "Rows shown: "
                + "; ".join(
                    f"{b.rule.column} = {b.value}" if b.value is not None else "none"
                    for b in scope.bounds
                )
            )
        if st.button("Sign out", key="rtdata-sign-out"):
            auth = _project_auth()
            if auth is not None:
                auth.sign_out(signed)
            audit.record(audit.AuditAction.SIGN_OUT, audit.user_who(signed.email))
            st.session_state.pop(_SIGNED_IN_KEY, None)
            st.rerun()


def refusal(decision: Decision, page_name: str = "") -> None:
    """Draw why a page is not shown (no data), and record the refusal once per session."""
    if decision.refusal is Refusal.SIGN_IN_REQUIRED:
        sign_in_form()
    else:
        audit_once(audit.AuditAction.REFUSED, page_name, "role")
        st.error("You do not have access to this page. Ask an admin for a role that opens it.")


def kiosk_refusal(refused: kiosk.KioskRefusal) -> None:
    """Draw why a kiosk link shows nothing; no data."""
    why = {
        kiosk.KioskRefusalReason.EXPIRED: "has expired",
        kiosk.KioskRefusalReason.REVOKED: "has been revoked",
    }.get(refused.reason, "is not valid")
    st.error(f"This kiosk link {why}. Ask an admin for a new one (`rtdata kiosk create`).")


def is_wall() -> bool:
    """True in wall-display mode: ``?wall=1``, or a signed-in user whose every role is a wall
    role (``[access] wall_roles``)."""
    if st.query_params.get("wall") in ("1", "true", "yes"):
        return True
    if st.query_params.get(KIOSK_PARAM) is not None:
        return True
    config = access()
    if not config.require_sign_in:
        return False
    signed = signed_in()
    return wall_only(config, signed.claims if signed is not None else None)


def refresh_interval_s() -> float:
    """Seconds between refreshes of live regions (``[dashboard]`` refresh_s, or wall_refresh_s
    on a wall display)."""
    dashboard = recorder().settings.config.dashboard
    return dashboard.wall_refresh_s if is_wall() else dashboard.refresh_s


def live(every_s: float | None = None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Decorate a render function as a live region: ``st.fragment(run_every=...)``.

    On a wall display the region is drawn inline instead: the wall reruns the whole page every
    ``wall_refresh_s`` (see ``app.py``), because a fragment refresh that races a page rotation
    leaves the browser with deltas for a page it no longer shows, and the wall goes blank.
    """

    def wrap(render: Callable[[], None]) -> Callable[[], None]:
        if is_wall():
            return render
        return st.fragment(run_every=every_s or refresh_interval_s())(render)

    return wrap


# ---------------------------------------------------------------- view cache

_cache_lock = threading.Lock()  # guards _cache, _computing, _computations and _stats_written_s
# (name, collector uid) -> lock held by the one session computing that view: sessions that
# miss at the same moment wait for it instead of computing the same view again.
_computing: dict[tuple[str, int], threading.RLock] = {}  # RLock: a view that asks for itself
# (name, collector uid) -> (buffer version, computed at in epoch s, value)
_cache: OrderedDict[tuple[str, int], tuple[int, float, Any]] = OrderedDict()
_CACHE_ENTRIES: Final = 256
VIEW_MAX_AGE_S: float = 0.25
"""A view at most this old is reused even if newer events arrived (see :func:`cached_view`)."""
_computations = 0  # cache misses: views cached_view has computed in this process
_stats_written_s = 0.0
_STATS_FILE: Final = os.environ.get("RTDATA_VIEW_STATS") or None
"""Opt-in, for ``rtdata bench``: a JSON file this process rewrites, at most once a second and
only when it computes a view, with ``{"view_computations": n, "at_s": unix time of the n-th}``."""


def view_computations() -> int:
    """Return how many views :func:`cached_view` has computed in this process (its misses)."""
    with _cache_lock:
        return _computations


def _write_stats(computations: int, at_s: float) -> None:
    assert _STATS_FILE is not None
    partial = f"{_STATS_FILE}.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(partial, "w") as out:
            json.dump({"view_computations": computations, "at_s": at_s}, out)
        os.replace(partial, _STATS_FILE)  # readers never see half a file
    except OSError:
        pass  # diagnostics only: a page never fails because the stats file cannot be written


def cached_view(name: str, shared: Reader, compute: Callable[[], T]) -> T:
    """Return ``compute()``, shared by every session, recomputed only when it may have changed.

    A computed view is reused while it is younger than :data:`VIEW_MAX_AGE_S` (a quarter of a
    second), even if events arrived since: N viewers refreshing every second then cost at most
    about four computations a second however large N is, and what they see is at most that old.
    An older view is reused while the buffer has not changed and it is younger than a second,
    so time-dependent views (ages, per-minute rates) keep moving on a quiet feed. Sessions that
    miss at once compute it once: one computes, the others wait for its result. The result is
    shared: callers must not mutate it.

    Args:
        name: Identifies the view (include any filter values that change the result).
        shared: The recorder whose data the view shows.
        compute: Builds the view from snapshots.
    """
    key = (name, shared.uid)
    hit, computing = _fresh(key, shared.buffer.version)
    if hit is not None:
        return hit[0]  # type: ignore[no-any-return]
    with computing:
        version = shared.buffer.version  # before the snapshots compute() takes
        hit, _ = _fresh(key, version)  # computed by the session this one waited for
        if hit is not None:
            return hit[0]  # type: ignore[no-any-return]
        return _compute(key, version, compute)


def _fresh(key: tuple[str, int], version: int) -> tuple[tuple[Any] | None, threading.RLock]:
    """Return the cached view of ``key`` if it may be reused (see :func:`cached_view`), and the
    lock of whoever computes it."""
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None:
            age_s = time.time() - entry[1]
            if age_s < VIEW_MAX_AGE_S or (entry[0] == version and age_s < 1.0):
                _cache.move_to_end(key)
                return (entry[2],), _computing.setdefault(key, threading.RLock())
        return None, _computing.setdefault(key, threading.RLock())


def _compute(key: tuple[str, int], version: int, compute: Callable[[], T]) -> T:
    global _computations, _stats_written_s
    value = compute()
    now_s = time.time()
    with _cache_lock:
        _cache[key] = (version, now_s, value)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_ENTRIES:
            evicted, _ = _cache.popitem(last=False)
            _computing.pop(evicted, None)
        _computations += 1
        computations = _computations
        publish = _STATS_FILE is not None and now_s - _stats_written_s >= 1.0
        if publish:
            _stats_written_s = now_s
    if publish:
        _write_stats(computations, now_s)
    return value


# ---------------------------------------------------------------- chrome


def connection_badge(shared: Reader) -> None:
    """Draw the connection state dot, its label and the age of the newest event."""
    indicator = connection_indicator(shared.status, datetime.now(UTC))
    age = (
        "no events yet"
        if indicator.last_event_age_s is None
        else f"last event {indicator.last_event_age_s:.0f} s ago"
    )
    st.markdown(
        f'<span style="color:{indicator.colour};font-size:1.2em">●</span> '
        f"**{indicator.label}** · {age}",
        unsafe_allow_html=True,
        help=indicator.detail,
    )


def stale_banner(shared: Reader, *, wall: bool = False) -> None:
    """Show a banner when data is not live: stale, in REST fallback, or disconnected.

    On a wall it is a full-width block with the time of the last update, so a frozen screen
    never looks live.
    """
    status = shared.status
    now = datetime.now(UTC)
    last = status.last_event_at
    age_s = None if last is None else (now - last).total_seconds()
    state = status.state
    if state == ConnectionState.SUBSCRIBED and (age_s is None or age_s < STALE_AFTER_S or not wall):
        return
    if state == ConnectionState.POLLING:
        text = "FALLBACK: live feed down, data refreshed over REST every few seconds"
    elif state == ConnectionState.SUBSCRIBED:
        text = "STALE: no change received recently"
    else:
        text = f"STALE: live feed {state.value}, data is not current"
    when = "never" if last is None else last.strftime("%H:%M:%S UTC")
    message = f"{text} · last update {when}"
    if wall:
        st.markdown(
            f'<div data-testid="rtdata-stale-banner" style="background:#b00020;color:#fff;'
            f'font-size:2.6rem;font-weight:800;padding:0.6em;text-align:center;width:100%">'
            f"{message}</div>",
            unsafe_allow_html=True,
        )
    elif state == ConnectionState.FAILED:
        st.error(f"{message}. {status.reason}")
    else:
        st.warning(message)


_WALL_CSS: Final = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header, footer,
[data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
.stApp {background: #000 !important; color: #f5f5f5 !important;}
/* No header on a wall, so none of the room Streamlit keeps above the page for it. */
[data-testid="stMainBlockContainer"] {padding-top: 1.5rem !important;}
/* The rerun timer (streamlit-autorefresh) is an invisible iframe: out of the flow, clipped,
   but not display:none, so its timer keeps running. */
[data-testid="stElementContainer"]:has(iframe[title="streamlit_autorefresh.st_autorefresh"]) {
  position: absolute !important; height: 0 !important; overflow: hidden !important;}
html, body, .stApp, .stMarkdown, p, span, label, div {font-size: 1.5rem;}
[data-testid="stHeading"] h1, [data-testid="stHeading"] h1 * {font-size: 3.5rem !important;
  color: #fff !important;}
[data-testid="stHeading"] h2, [data-testid="stHeading"] h3 {font-size: 2.2rem !important;
  color: #fff !important;}
/* Large enough for 3 m, small enough that six tiles fit one 1080p row without truncation. */
[data-testid="stMetricValue"] {font-size: 3.2rem !important; color: #fff !important;}
[data-testid="stMetricValue"] > div {white-space: normal !important; line-height: 1.1;}
[data-testid="stMetricLabel"] p {font-size: 1.5rem !important; color: #e0e0e0 !important;}
[data-testid="stMetricDelta"] {font-size: 1.4rem !important;}
/* Sparklines and tables draw in the app's light theme; inverted with the hue kept, they are
   dark like the rest of the wall (plotly charts get the wall template instead, see chart()). */
[data-testid="stMetricChart"], [data-testid="stDataFrame"] {
  filter: invert(1) hue-rotate(180deg);}
</style>
"""

_PAGE_CSS: Final = """
<style>
/* A KPI value or label that does not fit its column wraps (at spaces, or inside a word that
   is wider than the column) instead of ending in "…": no value is ever cut. */
[data-testid="stMetricValue"] > div, [data-testid="stMetricLabel"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: break-word; line-height: 1.15;}
</style>
"""


def _route_through_app() -> None:
    """Rerun through ``app.py`` when Streamlit ran this page script by itself.

    Streamlit decides once per process whether an app uses the old ``pages/`` directory mode
    (``PagesManager.uses_pages_directory``) and only drops it when a script calls
    ``st.navigation``. When the first request after a server start names a page (a bookmark
    of ``/events``), it runs ``pages/events.py`` alone, so ``app.py`` with its
    navigation, wide layout and wall mode never runs, for every session, until someone opens
    ``/``. The flag is a Streamlit internal; without it this does nothing.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without the v1 mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def wall_style() -> None:
    """Draw the wall's style (dark, large, no header, the rerun timer out of the flow). A
    style-only ``st.html`` takes no room on the page."""
    st.html(_WALL_CSS)


def page(title: str) -> Reader:
    """Set up a page (title, sidebar indicator with Reconnect, stale banner, wall mode, KPIs
    that wrap instead of truncating) and return what this session reads (:func:`recorder`)."""
    _route_through_app()
    shared = recorder()
    if (
        shared.settings.config.access.require_sign_in
        and signed_in() is None
        and not isinstance(kiosk_access(), kiosk.KioskGrant)
    ):
        sign_in_form()  # a page script run without the router (app.py gates it first)
        st.stop()
    wall = is_wall()
    st.html(_PAGE_CSS)
    scope = shared.scope if isinstance(shared, ScopedReader) else None
    if scope is not None and scope.unset_claims:
        st.warning(
            f"Your account has no {', '.join(scope.unset_claims)}: this dashboard shows you no "
            "rows. Ask an admin to set it."
        )
    if wall:
        wall_style()
    else:
        with st.sidebar:

            @st.fragment(run_every=refresh_interval_s())
            def badge() -> None:
                connection_badge(shared)

            badge()
            if st.button("Reconnect", help="Replace the realtime connection now"):
                _reconnect()
                st.toast("Reconnecting…")

    @st.fragment(run_every=refresh_interval_s())
    def banner() -> None:
        stale_banner(shared, wall=wall)

    banner()
    st.title(title)
    return shared


def chart(figure: go.Figure, key: str | None = None) -> None:
    """Draw a plotly figure across the page: as built in a browser, dark with large type on a
    wall (:func:`rtdata.views.charts.wall_figure`, without Streamlit's light chart theme).

    Args:
        figure: The figure.
        key: The chart's element key, unique on the page: two charts that happen to draw the
            same figure (two empty maps of one city) would otherwise share Streamlit's id.
    """
    if is_wall():
        st.plotly_chart(wall_figure(figure), width="stretch", theme=None, key=key)
    else:
        st.plotly_chart(figure, width="stretch", key=key)


@st.cache_resource
def tile_history(reader_uid: int) -> TileHistory:
    """The tiles' history (deltas and sparklines) of what the reader ``reader_uid`` shows,
    shared by every session that reads it: a scoped user's tiles never mix with another
    scope's."""
    return TileHistory()


# ---------------------------------------------------------------- pages


DEFAULT_PAGES_MAX_AGE_S: Final = 10.0
"""The zero-config page set is rebuilt at most this often (and whenever the followed tables or
the schema change): building it copies every table's rows, and it changes only when a table's
statuses do."""

_layouts: dict[int, tuple[float, object, Any]] = {}  # recorder uid -> (at_s, inputs, layout)


def _default_layout(shared: Reader) -> DefaultLayout:
    from rtdata import default_pages

    tables = dict(shared.settings.table_keys)
    inputs = (tuple(tables.items()), id(shared.schema))
    now_s = time.time()
    with _cache_lock:
        entry = _layouts.get(shared.uid)
    if entry is not None and entry[1] == inputs and now_s - entry[0] < DEFAULT_PAGES_MAX_AGE_S:
        return entry[2]  # type: ignore[no-any-return]
    rows = {name: shared.table(name) for name in tables}
    layout = default_pages.build(shared.schema, tables, rows)
    with _cache_lock:
        _layouts[shared.uid] = (now_s, inputs, layout)
    return layout


def pages(shared: Reader) -> tuple[Page, ...]:
    """Return the dashboard's pages: ``[[pages]]`` of the config, or, without them, the pages
    built from the followed tables (:func:`rtdata.default_pages.build`)."""
    configured = shared.settings.config.pages
    return configured if configured else _default_layout(shared).pages


def labels(shared: Reader) -> Mapping[str, Label]:
    """Return how id columns are shown: ``[labels]`` with ``[[pages]]``, else the labels the
    default pages found from foreign keys."""
    config = shared.settings.config
    return config.labels if config.pages else _default_layout(shared).labels


def config_problems(shared: Reader) -> tuple[str, ...]:
    """Return what the config's pages name that the project lacks, one message per line
    (``<file>: <key path>: <problem>``): tables and channels not followed once the followed
    tables are known, and columns once the project's columns are known; empty when all is
    well."""
    config = shared.settings.config
    if not config.pages:
        return ()
    # A config without channels follows the tables the collector discovers: until it has,
    # every table would look unfollowed; once it has, the recorder's settings name the
    # discovery channel. (A config naming its channels was checked at load; RTDATA_TABLES may
    # have replaced them since.)
    known = shared.settings.table_keys or shared.schema is not None
    schema = shared.schema
    columns = None if schema is None else {n: tuple(t.columns) for n, t in schema.tables.items()}
    return tuple(config.page_problems(shared.settings.table_keys if known else None, columns))

"""The streams config file: the documented example, the default, and every validation error."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import textwrap
import typing
from pathlib import Path

import pytest

import rtdata.config
from rtdata.config import (
    DEFAULT_CONFIG,
    AlertConfig,
    Binding,
    BufferConfig,
    Channel,
    Config,
    ConfigError,
    ConnectionConfig,
    load_config,
    parse_config,
)
from rtdata.views.widgets.lifecycle import LifecycleSpec

SECRET = "eyJhbGciOi-very-secret-value"


def _example() -> str:
    """Return the example file from the module docstring, so the documentation is what we test."""
    doc = rtdata.config.__doc__
    assert doc is not None
    return textwrap.dedent(doc.split("Example ``rtdata.toml``::\n", 1)[1])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rtdata.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# ---------------------------------------------------------------- loading


def test_documented_example_loads_to_the_expected_config(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, _example()), env={})
    # Every number the example states is the default, as the module docstring says.
    assert config.connection == ConnectionConfig()
    assert config.buffer == BufferConfig()
    assert config.alerts == AlertConfig()
    assert config.connection == ConnectionConfig(
        schema="public",
        reconnect_initial_s=1.0,
        reconnect_max_s=30.0,
        reconnect_jitter=0.2,
        probe_interval_s=5.0,
        poll_after_s=30.0,
        poll_interval_s=10.0,
        resync_margin_s=5.0,
        reconcile_max_rows=10_000,
        token_refresh_margin_s=60.0,
        trace_frames=200,
    )
    assert config.buffer == BufferConfig(max_rows=1_000_000, max_age_s=86_400.0)
    assert config.alerts == AlertConfig(
        p99_latency_ms=1000.0,
        silence_s=60.0,
        busy_table_events_per_min=6.0,
        reconnect_storm_count=5,
        reconnect_storm_window_s=300.0,
        presence_spike_factor=3.0,
    )
    assert config.channels == (
        Channel(
            name="tables",
            private=False,
            postgres_changes=(
                Binding(
                    table="orders",
                    schema="public",
                    events=("*",),
                    filter="store_id=eq.1",
                    primary_key=("id",),
                    resync_column="updated_at",
                ),
            ),
        ),
        Channel(name="ops", broadcast=("alert", "*")),
        Channel(name="lobby", presence=True),
    )
    assert config.tables() == {"orders": ("id",)}
    assert config.resync_columns() == {"orders": "updated_at"}


def test_values_are_typed_and_normalised(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            """
            [connection]
            schema = "app"
            reconnect_jitter = 0
            token_refresh_margin_s = 90
            [buffer]
            max_age_s = 0
            [[channels]]
            name = "rt:orders.v2"
            private = true
            broadcast = "*"
              [[channels.postgres_changes]]
              table = "orders"
              events = ["insert", "Update", "INSERT"]
              primary_key = "order_id"
              [[channels.postgres_changes]]
              table = "items"
              schema = "public"
              events = ["delete", "*"]
              primary_key = ["order_id", "line"]
              filter = "  "
            """,
        ),
        env={},
    )
    assert config.connection.reconnect_jitter == 0.0
    assert isinstance(config.connection.token_refresh_margin_s, float)
    assert config.buffer.max_age_s == 0.0
    (channel,) = config.channels
    assert (channel.name, channel.private, channel.broadcast) == ("rt:orders.v2", True, ("*",))
    orders, items = channel.postgres_changes
    assert orders == Binding("orders", "app", ("INSERT", "UPDATE"), None, ("order_id",), None)
    assert items == Binding("items", "public", ("*",), None, ("order_id", "line"), None)
    assert config.tables() == {"orders": ("order_id",), "items": ("order_id", "line")}
    assert config.resync_columns() == {}


def test_a_table_may_be_bound_several_times_with_the_same_key(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            """
            [[channels]]
            name = "a"
              [[channels.postgres_changes]]
              table = "t"
              filter = "x=eq.1"
            [[channels]]
            name = "b"
              [[channels.postgres_changes]]
              table = "t"
              events = "DELETE"
              resync_column = "updated_at"
            """,
        ),
        env={},
    )
    assert config.tables() == {"t": ("id",)}
    assert config.resync_columns() == {"t": "updated_at"}


def test_a_binding_filter_may_compare_with_the_text_now_when_quoted(tmp_path: Path) -> None:
    # A widget filter reads now() as the render time; a binding's goes to Supabase Realtime,
    # which compares with constants: quoted, it is the text, and the binding keeps it.
    text = '[[channels]]\nname = "c"\n[[channels.postgres_changes]]\ntable = "t"\n'
    config = load_config(_write(tmp_path, text + "filter = 'note=eq.\"now()\"'"), env={})
    assert config.channels[0].postgres_changes[0].filter == 'note=eq."now()"'


def test_default_config_follows_what_the_project_exposes_and_builds_its_pages() -> None:
    assert Config() == DEFAULT_CONFIG
    assert DEFAULT_CONFIG.channels == ()
    assert DEFAULT_CONFIG.discovers
    assert DEFAULT_CONFIG.tables() == {}
    assert DEFAULT_CONFIG.pages == ()
    assert DEFAULT_CONFIG.labels == {}
    assert DEFAULT_CONFIG.presence_channels() == DEFAULT_CONFIG.broadcast_channels() == ()


def test_file_without_channels_discovers_and_keeps_its_other_sections(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[connection]\nschema = "app"\n'), env={})
    assert config.discovers
    assert config.connection.schema == "app"
    assert dataclasses.replace(load_config(_write(tmp_path, ""), env={}), source=None) == (
        DEFAULT_CONFIG
    )


def test_missing_default_file_gives_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}) is DEFAULT_CONFIG
    assert load_config(env={"RTDATA_CONFIG": ""}) is DEFAULT_CONFIG


def test_default_file_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "[buffer]\nmax_rows = 5\n")
    assert load_config(env={}).buffer.max_rows == 5


def test_rtdata_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "[buffer]\nmax_rows = 5\n")
    other = tmp_path / "other.toml"
    other.write_text("[buffer]\nmax_rows = 7\n", encoding="utf-8")
    assert load_config(env={"RTDATA_CONFIG": str(other)}).buffer.max_rows == 7
    # An explicit path wins over the environment.
    assert load_config("rtdata.toml", env={"RTDATA_CONFIG": str(other)}).buffer.max_rows == 5


def test_missing_file_named_by_rtdata_config_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(env={"RTDATA_CONFIG": str(missing)})
    assert str(info.value) == f"{missing}: file not found (named by RTDATA_CONFIG)"


def test_missing_explicit_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_unreadable_or_undecodable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{tmp_path}: cannot read"):
        load_config(tmp_path, env={})
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[[channels]]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: not UTF-8 text"):
        load_config(path, env={})


def test_config_error_is_a_value_error_and_survives_a_round_trip() -> None:
    error = ConfigError(["a: b: c", "a: d: e"])
    assert isinstance(error, ValueError)
    assert ConfigError(str(error)).problems == error.problems == ("a: b: c", "a: d: e")


def test_from_tables_binds_every_event_of_each_table() -> None:
    config = Config.from_tables({"orders": ("id",), "lines": ("order_id", "n")})
    assert config == dataclasses.replace(
        DEFAULT_CONFIG,
        channels=(
            Channel(
                "rtdata-tables",
                postgres_changes=(
                    Binding("orders", primary_key=("id",)),
                    Binding("lines", primary_key=("order_id", "n")),
                ),
            ),
        ),
    )
    assert config.tables() == {"orders": ("id",), "lines": ("order_id", "n")}


@pytest.mark.parametrize(
    ("tables", "problem"),
    [
        ({}, "names no table"),
        ({"bad name": ("id",)}, "'bad name'"),
        ({"t": ()}, "primary_key"),
        ({"t": ("a b",)}, "'a b'"),
    ],
)
def test_from_tables_rejects_bad_tables(tables: dict[str, tuple[str, ...]], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Config.from_tables(tables)


# ---------------------------------------------------------------- validation errors

_BIND = '[[channels]]\nname = "c"\n[[channels.postgres_changes]]\ntable = "t"\n'


@pytest.mark.parametrize(
    ("text", "key_path", "problem"),
    [
        (
            _BIND + 'events = "UPSERT"',
            "channels[0].postgres_changes[0].events",
            "'UPSERT' is not one of *, INSERT, UPDATE, DELETE",
        ),
        (
            _BIND + 'events = ["INSERT", "upsert"]',
            "channels[0].postgres_changes[0].events[1]",
            "'upsert' is not one of",
        ),
        (_BIND + "events = []", "channels[0].postgres_changes[0].events", "non-empty array"),
        (
            _BIND + 'filter = "hospital_id=eqq.1"',
            "channels[0].postgres_changes[0].filter",
            "'hospital_id=eqq.1': unsupported operator 'eqq'",
        ),
        (_BIND + "filter = 3", "channels[0].postgres_changes[0].filter", "must be a string"),
        (
            _BIND + 'filter = "kind=eq.a,expires_at=lt.now()-15m"',
            "channels[0].postgres_changes[0].filter",
            "'expires_at=lt.now()-15m': now() and col() are for widget filters; Supabase "
            "Realtime compares a column with a constant",
        ),
        (
            _BIND + 'filter = "closed_at=gt.col(expires_at)"',
            "channels[0].postgres_changes[0].filter",
            "'closed_at=gt.col(expires_at)': now() and col() are for widget filters",
        ),
        (_BIND + "primary_key = []", "channels[0].postgres_changes[0].primary_key", "non-empty"),
        (
            _BIND + 'primary_key = ["id", "a-b"]',
            "channels[0].postgres_changes[0].primary_key[1]",
            "'a-b'",
        ),
        (
            _BIND + 'resync_column = "updated at"',
            "channels[0].postgres_changes[0].resync_column",
            "must be an identifier",
        ),
        (_BIND + 'schema = "1st"', "channels[0].postgres_changes[0].schema", "'1st'"),
        (
            '[[channels]]\nname = "c"\n[[channels.postgres_changes]]\nevents = "*"',
            "channels[0].postgres_changes[0].table",
            "missing",
        ),
        (
            '[[channels]]\nname = "c"\n[[channels.postgres_changes]]\ntable = "public.t"',
            "channels[0].postgres_changes[0].table",
            "must be an identifier",
        ),
        ("[[channels]]\npresence = true", "channels[0].name", "missing"),
        ('[[channels]]\nname = "a b"\npresence = true', "channels[0].name", "not a channel name"),
        (
            '[[channels]]\nname = "realtime:ops"\npresence = true',
            "channels[0].name",
            "without the 'realtime:' prefix",
        ),
        (
            '[[channels]]\nname = "x"\npresence = true\n[[channels]]\nname = "x"\nbroadcast = "*"',
            "channels[1].name",
            "'x' is already the name of channels[0]",
        ),
        ('[[channels]]\nname = "x"', "channels[0]", "records nothing"),
        ('[[channels]]\nname = "x"\nbroadcast = []', "channels[0]", "records nothing"),
        ('[[channels]]\nname = "x"\nbroadcast = {}', "channels[0].broadcast", "got a table"),
        ('[[channels]]\nname = "x"\nbroadcast = [1]', "channels[0].broadcast[0]", "got 1"),
        ('[[channels]]\nname = "x"\npresence = "yes"', "channels[0].presence", "true or false"),
        (
            '[[channels]]\nname = "x"\nprivate = 1\npresence = true',
            "channels[0].private",
            "true or false",
        ),
        (
            '[[channels]]\nname = "x"\npostgres_changes = "t"',
            "channels[0].postgres_changes",
            "must be an array of tables",
        ),
        ("channels = []", "channels", "at least one channel"),
        ('channels = "tables"', "channels", "must be an array of tables"),
        (
            _BIND + '[[channels]]\nname = "d"\n[[channels.postgres_changes]]\ntable = "t"\n'
            'primary_key = ["uuid"]',
            "channels[1].postgres_changes[0].primary_key",
            "['uuid'] differs from ['id'] for table 't' at channels[0].postgres_changes[0]",
        ),
        (
            _BIND + '[[channels.postgres_changes]]\ntable = "t"\nschema = "other"',
            "channels[0].postgres_changes[1].schema",
            "'other' differs from 'public' for table 't'",
        ),
        (
            _BIND + 'resync_column = "a"\n[[channels.postgres_changes]]\ntable = "t"\n'
            'resync_column = "b"',
            "channels[0].postgres_changes[1].resync_column",
            "'b' differs from 'a'",
        ),
        ("connection = 1", "connection", "must be a table"),
        ("[connection]\nschema = 5", "connection.schema", "must be an identifier"),
        ("[connection]\nreconnect_jitter = 1.0", "connection.reconnect_jitter", "not in [0, 1)"),
        ("[connection]\nreconnect_jitter = -0.1", "connection.reconnect_jitter", "got -0.1"),
        ("[connection]\nprobe_interval_s = 0", "connection.probe_interval_s", "positive, got 0"),
        ("[connection]\npoll_after_s = -1", "connection.poll_after_s", "positive, got -1"),
        ("[connection]\ntrace_frames = 2.5", "connection.trace_frames", "must be an integer"),
        ("[connection]\nfast_decode = 1", "connection.fast_decode", "must be true or false, got 1"),
        ('[connection]\nresync_margin_s = "5s"', "connection.resync_margin_s", "a number"),
        ("[connection]\npoll_interval_s = true", "connection.poll_interval_s", "got true"),
        ("[connection]\npoll_interval_s = nan", "connection.poll_interval_s", "finite"),
        (
            "[connection]\nreconnect_max_s = 0.5",
            "connection.reconnect_max_s",
            "reconnect_max_s (0.5) is less than reconnect_initial_s (1)",
        ),
        (
            "[connection]\nreconnect_initial_s = 60",
            "connection.reconnect_initial_s",
            "reconnect_max_s (30) is less than reconnect_initial_s (60)",
        ),
        ("[buffer]\nmax_rows = 0", "buffer.max_rows", "positive"),
        ("[buffer]\nmax_age_s = -1", "buffer.max_age_s", "0 or positive, got -1"),
        ("[alerts]\nreconnect_storm_count = 1.5", "alerts.reconnect_storm_count", "integer"),
        ("[alerts]\npresence_spike_factor = 0", "alerts.presence_spike_factor", "positive"),
        ("[alerts]\nsilence_s = []", "alerts.silence_s", "got an array"),
    ],
)
def test_each_error_names_file_key_path_and_problem(
    tmp_path: Path, text: str, key_path: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    problems = _problems(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {key_path}: "), problems[0]
    assert problem in problems[0]


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[connection\nschema = 1\n")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: not valid TOML: ")
    assert "line 1" in problem


def test_all_errors_are_reported_together(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [connection]
        trace_frames = -5
        [[channels]]
        name = "ops"
          [[channels.postgres_changes]]
          table = "orders"
          events = "UPSERT"
        [[channels]]
        name = "ops"
        broadcast = "*"
        """,
    )
    assert _problems(path) == (
        f"{path}: connection.trace_frames: must be positive, got -5",
        f"{path}: channels[0].postgres_changes[0].events: "
        "'UPSERT' is not one of *, INSERT, UPDATE, DELETE",
        f"{path}: channels[1].name: 'ops' is already the name of channels[0]",
    )


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("where", "key", "key_path"),
    [
        ("", "url", "url"),
        ("", "SUPABASE_KEY", "SUPABASE_KEY"),
        ("", "supabase_url", "supabase_url"),
        ("[connection]\n", "apikey", "connection.apikey"),
        ("[connection]\n", "API_KEY", "connection.API_KEY"),
        ("[buffer]\n", "password", "buffer.password"),
        ("[alerts]\n", "Secret", "alerts.Secret"),
        ("[alerts]\n", "jwt_secret", "alerts.jwt_secret"),
        ("", "db_password", "db_password"),
        ("[supabase]\n", "key", "supabase.key"),
        ("[supabase]\n", "anon_key", "supabase.anon_key"),
        ('[[channels]]\nname = "c"\npresence = true\n', "token", "channels[0].token"),
        ('[[channels]]\nname = "c"\npresence = true\n', "serviceKey", "channels[0].serviceKey"),
        (_BIND, "jwt", "channels[0].postgres_changes[0].jwt"),
        (_BIND, "service_key", "channels[0].postgres_changes[0].service_key"),
        (_BIND, "service-role-key", "channels[0].postgres_changes[0].service-role-key"),
        (_BIND, "access_token", "channels[0].postgres_changes[0].access_token"),
    ],
)
def test_credentials_are_rejected_without_echoing_the_value(
    tmp_path: Path, where: str, key: str, key_path: str
) -> None:
    path = _write(tmp_path, f'{where}{key} = "{SECRET}"\n')
    problems = _problems(path)
    message = "\n".join(problems)
    assert SECRET not in message
    assert SECRET[:8] not in message
    credential = [p for p in problems if p.startswith(f"{path}: {key_path}: ")]
    assert len(credential) == 1, problems
    assert "credentials" in credential[0]
    assert "environment" in credential[0]
    assert ".streamlit/secrets.toml" in credential[0]
    # Reported as a credential only, not also as an unknown key.
    assert not any("unknown key" in p and p.startswith(f"{path}: {key_path}:") for p in problems)


def test_credential_holding_a_table_is_rejected_without_its_contents(tmp_path: Path) -> None:
    path = _write(tmp_path, f'[connection.secret]\nvalue = "{SECRET}"\n')
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: connection.secret: credentials")
    assert SECRET not in problem


@pytest.mark.parametrize(
    ("text", "key_path", "hint"),
    [
        ("[connection]\nprobe_interval = 5", "connection.probe_interval", "'probe_interval_s'"),
        ("[conection]\nschema = 'x'", "conection", "'connection'"),
        ("[alerts]\nsilence = 60", "alerts.silence", "'silence_s'"),
        ("[buffer]\nmaxRows = 5", "buffer.maxRows", "'max_rows'"),
        (
            '[[channels]]\nname = "c"\n[[channels.postgres_change]]\ntable = "t"',
            "channels[0].postgres_change",
            "'postgres_changes'",
        ),
        (
            _BIND + 'primary-key = ["id"]',
            "channels[0].postgres_changes[0].primary-key",
            "'primary_key'",
        ),
        (_BIND + 'evnets = "*"', "channels[0].postgres_changes[0].evnets", "'events'"),
    ],
)
def test_unknown_key_suggests_the_close_one(
    tmp_path: Path, text: str, key_path: str, hint: str
) -> None:
    path = _write(tmp_path, text)
    problems = _problems(path)
    assert f"{path}: {key_path}: unknown key; did you mean {hint}?" in problems


def test_unknown_key_without_a_close_one_lists_the_known_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "[buffer]\nzzz = 1\n")
    assert _problems(path) == (f"{path}: buffer.zzz: unknown key; known: max_rows, max_age_s",)


def test_odd_key_names_are_quoted_in_the_path(tmp_path: Path) -> None:
    path = _write(tmp_path, '[buffer]\n"max rows" = 1\n')
    (problem,) = _problems(path)
    assert problem.startswith(f'{path}: buffer."max rows": unknown key; did you mean')


def test_fast_decode_is_a_flag(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "[connection]\nfast_decode = true\n"), env={})
    assert config.connection.fast_decode is True
    assert ConnectionConfig().fast_decode is False  # opt-in


# ---------------------------------------------------------------- every field is read

ROOT = Path(__file__).resolve().parents[2]

# Fields consumed through a Config method rather than by attribute access elsewhere: field →
# the method that reads it, which must itself be read outside config.py.
READ_THROUGH: dict[tuple[str, str], str] = {
    # Config.resync_columns() collects every binding's resync_column; rtdata.reads calls it.
    ("Binding", "resync_column"): "resync_columns",
}


_WIDGET_MODULES = {
    name: importlib.import_module(f"rtdata.views.widgets.{module}")
    for name, module in {
        **{m: m for m in ("tiles", "lifecycle", "queue", "breakdown", "feed", "series", "roster")},
        "map_widget": "map",
    }.items()
}


def _config_models() -> list[type]:
    """Return Config and every dataclass reachable from its fields' types, once each."""
    found: list[type] = []
    todo: list[type] = [Config]
    while todo:
        model = todo.pop()
        if model in found:
            continue
        found.append(model)
        hints = typing.get_type_hints(model, localns=_WIDGET_MODULES)
        for f in dataclasses.fields(model):
            for candidate in (hints[f.name], *_nested_args(hints[f.name])):
                if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
                    todo.append(candidate)
    return found


def _nested_args(hint: object) -> list[object]:
    args = list(typing.get_args(hint))
    return [*args, *(nested for arg in args for nested in _nested_args(arg))]


def _attributes_read_outside_config() -> set[str]:
    sources = [*ROOT.glob("rtdata/**/*.py"), *ROOT.glob("pages/*.py"), ROOT / "app.py"]
    names: set[str] = set()
    for path in sources:
        if path == ROOT / "rtdata" / "config.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names.update(node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute))
    return names


def test_every_config_field_is_read_somewhere() -> None:
    read = _attributes_read_outside_config()
    models = _config_models()
    names = {m.__name__ for m in models}
    assert names >= {"Config", "DashboardConfig", "Binding", "Page", "Widget", "Label", "TileSpec"}
    unread = [
        f"{model.__name__}.{f.name}"
        for model in models
        for f in dataclasses.fields(model)
        if READ_THROUGH.get((model.__name__, f.name), f.name) not in read
    ]
    assert unread == [], "config fields that nothing reads (honour or remove them)"


def test_names_from_the_project_are_not_taken_for_credentials() -> None:
    config = parse_config(
        """
        [labels]
        product_key = "products.name"
        [labels.api_token_id]
        table = "tokens"
        label_column = "title"
        """
    )
    assert set(config.labels) == {"product_key", "api_token_id"}
    with pytest.raises(ConfigError) as caught:
        parse_config('[labels.product_key]\ntable = "p"\napi_key = "secret-value"\n')
    assert "labels.product_key.api_key: credentials do not belong" in str(caught.value)
    assert "secret-value" not in str(caught.value)


def test_values_and_statuses_in_sla_s_by_are_not_taken_for_credentials() -> None:
    board = """
        [[pages]]
        name = "p"
          [[pages.widgets]]
          type = "lifecycle"
          table = "t"
          status_column = "state"
          statuses = ["secret", "done"]
          sla_column = "tier"
          [pages.widgets.sla_s_by.api_key]
          secret = 60
        """
    config = parse_config(board)
    spec = config.pages[0].widgets[0].spec
    assert isinstance(spec, LifecycleSpec)
    assert dict(spec.sla_s_by["api_key"]) == {"secret": 60}
    with pytest.raises(ConfigError) as caught:  # three levels down is no name of the project
        parse_config(board.replace("secret = 60", 'secret = { token = "secret-value" }'))
    assert "sla_s_by.api_key.secret.token: credentials do not belong" in str(caught.value)
    assert "secret-value" not in str(caught.value)

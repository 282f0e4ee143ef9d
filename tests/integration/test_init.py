"""`rtdata init` in process: a starter rtdata.toml from a real local server's REST schema or
from migrations; an existing file is kept without --force; a refused key is never shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from rtdata.cli import main
from rtdata.config import ConfigError, load_config
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import LocalServer
from rtdata.views.widgets import lifecycle

MIGRATIONS_DIR = get_scenario(DEFAULT_SCENARIO).migrations

CRM_SQL = """
create type ticket_status as enum ('open', 'pending', 'solved', 'closed');
create table customers (
  id bigint generated always as identity primary key,
  name text not null,
  created_at timestamptz not null default now()
);
create table tickets (
  id bigint generated always as identity primary key,
  customer_id bigint not null references customers (id),
  status ticket_status not null default 'open',
  subject text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
"""


@pytest.fixture
def crm_server(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[LocalServer]]
) -> Iterator[LocalServer]:
    """A local server with a small CRM schema: a status enum and a foreign key (on each
    backend)."""
    migrations = tmp_path / "crm.sql"
    migrations.write_text(CRM_SQL)
    with serve(schema=migrations) as srv:
        yield srv


def init(*args: str) -> int:
    return main(["init", *args])


def test_init_from_a_server_binds_its_tables(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "rtdata.toml"
    assert init("--url", server.url, "--key", server.service_key, "--output", str(output)) == 0
    config = load_config(output)
    assert set(config.tables()) == set(server.schema.tables)
    columns = {t.name: tuple(c.name for c in t.columns) for t in server.schema.tables.values()}
    assert config.column_problems(columns) == []
    out, err = capsys.readouterr()
    assert str(output) in out
    assert f"{len(server.schema.tables)} of {len(server.schema.tables)} tables bound" in out
    assert f"{len(config.pages)} pages" in out
    assert server.service_key not in out + err + output.read_text()


def test_an_existing_file_is_kept_without_force_and_rewritten_with_it(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "rtdata.toml"
    output.write_text("# mine\n")
    flags = ["--url", server.url, "--key", server.service_key, "--output", str(output)]
    assert init(*flags) == 2
    assert output.read_text() == "# mine\n"
    err = capsys.readouterr().err
    assert f"{output} exists; pass --force" in err
    assert "Traceback" not in err
    assert init(*flags, "--force") == 0
    assert set(load_config(output).tables()) == set(server.schema.tables)


def test_init_from_migrations_needs_no_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "rtdata.toml"
    assert init("--schema", str(MIGRATIONS_DIR), "--output", str(output)) == 0
    with LocalServer() as reference:  # the same migrations, served
        assert set(load_config(output).tables()) == set(reference.schema.tables)
    assert f"the migrations in {MIGRATIONS_DIR}" in output.read_text().replace("\n# ", " ")
    assert "wrote" in capsys.readouterr().out


def test_an_enum_and_a_foreign_key_give_a_board_and_a_label(
    crm_server: LocalServer, tmp_path: Path
) -> None:
    output = tmp_path / "rtdata.toml"
    assert init("--url", crm_server.url, "--key", crm_server.service_key, "-o", str(output)) == 0
    config = load_config(output)
    assert config.tables() == {"customers": ("id",), "tickets": ("id",)}
    assert config.resync_columns() == {"tickets": "updated_at"}
    label = config.labels["customer_id"]
    assert (label.table, label.key_column, label.label_column) == ("customers", "id", "name")
    (board,) = [
        w.spec
        for p in config.pages
        for w in p.widgets
        if isinstance(w.spec, lifecycle.LifecycleSpec)
    ]
    assert board.statuses == ("open", "pending", "solved", "closed")


def test_a_refused_key_exits_2_without_showing_it(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "rtdata.toml"
    wrong = "sb_secret_wrong-key-never-shown"
    assert init("--url", server.url, "--key", wrong, "--output", str(output)) == 2
    out, err = capsys.readouterr()
    assert "refused the key" in err
    assert wrong not in out + err
    assert "Traceback" not in err
    assert not output.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--url", "http://127.0.0.1:9"], "--url and --key go together"),
        (["--schema", "no-such-migrations"], "no-such-migrations"),
    ],
)
def test_bad_sources_exit_2_with_a_message(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "rtdata.toml"
    assert init(*flags, "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not output.exists()


def test_without_flags_the_project_comes_from_the_environment(
    server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_URL", server.url)
    monkeypatch.setenv("SUPABASE_KEY", server.service_key)
    # A broken rtdata.toml is what --force replaces: init does not read it.
    Path("rtdata.toml").write_text("[[pages]]\nname = 1\n")
    with pytest.raises(ConfigError):
        load_config("rtdata.toml")
    assert init("--force") == 0
    assert set(load_config("rtdata.toml").tables()) == set(server.schema.tables)
    out, err = capsys.readouterr()
    assert server.service_key not in out + err

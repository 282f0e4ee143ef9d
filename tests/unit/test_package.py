"""The package: a light ``import rtdata``, its public names, and the dashboard it ships."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import rtdata
from rtdata import cli, dashboard
from rtdata.layout import BUILTIN_PAGES
from rtdata.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("aiohttp", "sqlglot", "streamlit", "rtdata.server", "rtdata.simulate")
"""Modules ``import rtdata`` must not load: the local server, the SQL parser, the simulator and
Streamlit (and anything below them)."""


def test_import_rtdata_loads_no_server_sql_parser_simulator_or_streamlit() -> None:
    code = (
        "import sys, rtdata\n"
        f"heavy = {HEAVY!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules"
        " if any(m == h or m.startswith(h + '.') for h in heavy))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_every_public_name_resolves_from_its_module() -> None:
    from rtdata.collector import Collector
    from rtdata.server import LocalServer

    for name in rtdata.__all__:
        assert getattr(rtdata, name) is not None, name
        assert name in dir(rtdata)
    assert rtdata.Collector is Collector
    assert rtdata.LocalServer is LocalServer
    assert rtdata.SettingsError is SettingsError


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = rtdata.no_such_name  # type: ignore[attr-defined]
    from rtdata import views

    assert views.__name__ == "rtdata.views"


def test_the_package_holds_the_router_every_page_and_the_streamlit_config() -> None:
    assert dashboard.APP.is_file()
    assert dashboard.CONFIG.is_file()
    scripts = _builtin_scripts()
    # A script for each built-in page, and the audit page (shown with sign-in only) ...
    assert set(scripts) == {*BUILTIN_PAGES, "audit"}
    assert {p.name for p in dashboard.PAGES.glob("*.py")} == set(scripts.values())  # ... only


def _builtin_scripts() -> dict[str, str]:
    """BUILTIN_SCRIPTS of the router, read without running it (it needs a Streamlit session)."""
    import ast

    tree = ast.parse(dashboard.APP.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BUILTIN_SCRIPTS":
            scripts: dict[str, str] = ast.literal_eval(node.value)
            return scripts
    raise AssertionError("no BUILTIN_SCRIPTS in the router")


def test_every_checkout_entry_runs_its_packaged_script() -> None:
    assert 'run_script("app.py")' in (ROOT / "app.py").read_text()
    entries = {p.name for p in (ROOT / "pages").glob("*.py")}
    assert entries == {p.name for p in dashboard.PAGES.glob("*.py")}
    for name in entries:
        assert f'run_script("pages/{name}")' in (ROOT / "pages" / name).read_text(), name


def test_the_checkout_streamlit_config_is_the_packaged_one() -> None:
    # `streamlit run app.py` in a checkout reads .streamlit/config.toml; rtdata demo and
    # rtdata dashboard pass the packaged file's options: the two must not drift apart.
    assert (ROOT / ".streamlit" / "config.toml").read_text() == dashboard.CONFIG.read_text()


def test_streamlit_options_pass_every_option_of_the_config_as_a_flag() -> None:
    flags = dashboard.streamlit_options()
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))
    with dashboard.CONFIG.open("rb") as file:
        config = tomllib.load(file)
    expected = {
        f"--{section}.{name}": value
        for section, options in config.items()
        for name, value in options.items()
    }
    assert set(pairs) == set(expected)
    assert pairs["--server.headless"] == "true"
    assert pairs["--runner.postScriptGC"] == "false"
    assert pairs["--server.fileWatcherType"] == "none"
    assert pairs["--theme.primaryColor"] == config["theme"]["primaryColor"]


def test_streamlit_options_flatten_nested_tables_and_refuse_lists(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[theme.sidebar]\nprimaryColor = "#000"\n[server]\nport = 1\n')
    assert dashboard.streamlit_options(config) == [
        "--theme.sidebar.primaryColor",
        "#000",
        "--server.port",
        "1",
    ]
    config.write_text('[server]\ncorsAllowedOrigins = ["a"]\n')
    with pytest.raises(ValueError, match=r"server\.corsAllowedOrigins"):
        dashboard.streamlit_options(config)


def test_the_dashboard_command_runs_the_packaged_router_with_the_packaged_options() -> None:
    command = cli.dashboard_command(8765, "0.0.0.0")
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(dashboard.APP)]
    assert command[5:-4] == dashboard.streamlit_options()
    assert command[-4:] == ["--server.port", "8765", "--server.address", "0.0.0.0"]


def test_rtdata_dashboard_reports_a_bad_config_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rtdata.toml").write_text("[dashboard]\nrefresh_s = 'often'\n")
    monkeypatch.delenv("RTDATA_CONFIG", raising=False)
    assert cli.main(["dashboard", "--port", "0"]) == 2
    assert "rtdata dashboard: " in capsys.readouterr().err

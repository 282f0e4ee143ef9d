"""Safe by default: where the dashboard may bind without sign-in, and its cookie secret."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from rtdata.access import AccessConfig, wall_only
from rtdata.cli import check_exposure, dashboard_command, dashboard_env
from rtdata.settings import Settings
from rtdata.state import COOKIE_SECRET_FILE, cookie_secret, state_dir


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_sign_in(host: str) -> None:
    assert check_exposure(host, require_sign_in=False, insecure_no_auth=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "wall.example.org"])
def test_another_address_without_sign_in_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match=f"refusing to serve the dashboard on {host}"):
        check_exposure(host, require_sign_in=False, insecure_no_auth=False)
    assert check_exposure(host, require_sign_in=True, insecure_no_auth=False) is None
    warning = check_exposure(host, require_sign_in=False, insecure_no_auth=True)
    assert warning is not None
    assert warning.startswith("WARNING: the dashboard serves")


def test_the_cookie_secret_is_made_once_private_and_kept_off_the_command_line(
    tmp_path: Path,
) -> None:
    env = {"RTDATA_STATE_DIR": str(tmp_path / "state")}
    secrets = set()
    threads = [threading.Thread(target=lambda: secrets.add(cookie_secret(env))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (secret,) = secrets  # eight concurrent first uses agree on one secret
    assert len(secret) >= 40
    folder = state_dir(env)
    assert folder == tmp_path / "state"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    path = folder / COOKIE_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [COOKIE_SECRET_FILE]  # no temporary left
    assert cookie_secret(env) == secret  # kept between starts
    child = dashboard_env(env)
    assert child["STREAMLIT_SERVER_COOKIE_SECRET"] == secret
    command = dashboard_command(8501, "127.0.0.1")
    assert not any(secret in part for part in command)
    assert "--server.enableXsrfProtection" not in command  # Streamlit's default: on


def test_a_user_whose_every_role_is_a_wall_role_only_sees_the_wall() -> None:
    access = AccessConfig(require_sign_in=True)
    assert wall_only(access, {"app_metadata": {"role": "wall"}})
    assert not wall_only(access, {"app_metadata": {"role": ["wall", "analyst"]}})
    assert not wall_only(access, {"app_metadata": {}})
    assert not wall_only(access, None)
    assert not wall_only(AccessConfig(), {"app_metadata": {"role": "wall"}})


def test_require_sign_in_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "rtdata.toml").write_text("[dashboard]\nrefresh_s = 2\n")
    env = {"RTDATA_CONFIG": str(tmp_path / "rtdata.toml")}
    assert not Settings.from_env(env, tmp_path / "s.toml").config.access.require_sign_in
    on = Settings.from_env({**env, "RTDATA_REQUIRE_SIGN_IN": "1"}, tmp_path / "s.toml")
    assert on.config.access.require_sign_in

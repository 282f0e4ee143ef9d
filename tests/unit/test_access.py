"""Who may look (``rtdata.access``): roles from claims, page decisions, and the ``[access]``
section's checks."""

from __future__ import annotations

from typing import Any

import pytest

from rtdata.access import AccessConfig, Refusal, claim, decide, roles_of
from rtdata.config import ConfigError, parse_config

ADMIN: dict[str, Any] = {"sub": "u1", "app_metadata": {"role": "admin"}}
CLINICIAN: dict[str, Any] = {
    "sub": "u2",
    "app_metadata": {"role": "clinician", "tenant_id": "t-7", "site": 3},
}
SIGNED_IN = AccessConfig(require_sign_in=True, role_map={"clinic_admin": "admin"})


def test_claims_are_read_by_dotted_path() -> None:
    assert claim(CLINICIAN, "app_metadata.tenant_id") == "t-7"
    assert claim(CLINICIAN, "app_metadata.missing") is None
    assert claim(CLINICIAN, "sub.deeper") is None  # a text has no fields
    assert claim({}, "app_metadata.role") is None


def test_roles_come_from_the_claim_through_the_map() -> None:
    assert roles_of(SIGNED_IN, ADMIN) == {"admin"}
    assert roles_of(SIGNED_IN, {"app_metadata": {"role": "clinic_admin"}}) == {"admin"}
    assert roles_of(SIGNED_IN, {"app_metadata": {"role": ["analyst", "wall"]}}) == {
        "analyst",
        "wall",
    }
    for odd in (None, 7, {"x": 1}, "", "  ", [None, 3]):
        assert roles_of(SIGNED_IN, {"app_metadata": {"role": odd}}) == frozenset()


def test_without_sign_in_every_page_is_shown() -> None:
    assert decide(AccessConfig(), ("admin",), None).allowed


def test_sign_in_required_refuses_nobody_and_the_wrong_role() -> None:
    assert decide(SIGNED_IN, (), None).refusal is Refusal.SIGN_IN_REQUIRED
    assert decide(SIGNED_IN, ("admin",), CLINICIAN).refusal is Refusal.ROLE
    assert decide(SIGNED_IN, ("admin",), {"app_metadata": {}}).refusal is Refusal.ROLE
    assert decide(SIGNED_IN, ("admin", "analyst"), ADMIN).allowed
    assert decide(SIGNED_IN, (), {"app_metadata": {}}).allowed  # any signed-in user


def test_the_access_section_and_page_roles_are_read() -> None:
    config = parse_config(
        """
[access]
require_sign_in = true
role_claim = "app_metadata.dashboard_role"
role_map = { owner = "admin" }
events_roles = ["admin", "analyst"]

[[pages]]
name = "ops"
roles = ["admin", "wall"]
widgets = []
"""
    )
    access = config.access
    assert access.require_sign_in
    assert access.role_claim == "app_metadata.dashboard_role"
    assert access.role_map == {"owner": "admin"}
    assert access.events_roles == ("admin", "analyst")
    assert access.realtime_roles == ()
    assert config.pages[0].roles == ("admin", "wall")
    assert parse_config("").access == AccessConfig()


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[access]\nrequire_sign_in = 'yes'", "access.require_sign_in: must be true or false"),
        ("[access]\nrole_claim = 'app metadata'", "access.role_claim: must be a dotted claim path"),
        ("[access]\nrequire_signin = true", "access.require_signin: unknown key"),
        ("[access]\nevents_roles = 'admin'", "access.events_roles: must be an array of role"),
        ("[access]\nrole_map = { a = 'Not A Role' }", "access.role_map: must map claim values"),
        ("access = 1", "access: must be a table"),
        ("[access]\nrole_column = 'profiles'", "access.role_column: must be table.column"),
        (
            "[[pages]]\nname = 'p'\nroles = ['Admin']\nwidgets = []",
            "pages[0].roles: must be an array",
        ),
    ],
)
def test_access_mistakes_name_the_key(toml: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(toml)
    assert problem in str(raised.value)


def test_a_role_column_replaces_the_role_claim() -> None:
    from rtdata.access import ROLE_COLUMN_CLAIM

    access = AccessConfig(require_sign_in=True, role_column="profiles.role")
    claims = {"app_metadata": {"role": "admin"}, ROLE_COLUMN_CLAIM: ["staff", "wall"]}
    assert roles_of(access, claims) == {"staff", "wall"}
    assert roles_of(access, {"app_metadata": {"role": "admin"}}) == frozenset()
    assert parse_config("[access]\nrole_column = 'profiles.role'").access.role_column == (
        "profiles.role"
    )

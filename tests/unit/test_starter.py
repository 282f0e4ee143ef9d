"""rtdata.starter: the commented starter rtdata.toml, from the hospital migrations and from a
small CRM schema built here; TOML values round-trip through tomllib."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata import default_pages
from rtdata.config import parse_config
from rtdata.introspect import ColumnInfo, ProjectSchema, TableInfo, schema_from_migrations
from rtdata.layout import Page, WidgetType
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.starter import PLACEHOLDER_STATUSES, render_starter, toml_key, toml_value
from rtdata.views.widgets import lifecycle
from rtdata.views.widgets import map as map_widget

MIGRATIONS_DIR = get_scenario(DEFAULT_SCENARIO).migrations

NOTE = "the project at https://abcdefghijklmnop.supabase.co"
TIMESTAMP = "timestamp with time zone"
COMMENTED_SETTING = re.compile(r"^(\s*)# (\[\[[a-z_.]+\]\]|[a-z_]+ = .*)$")


def _table(name: str, primary_key: tuple[str, ...], *columns: ColumnInfo) -> TableInfo:
    return TableInfo(name, {c.name: c for c in columns}, primary_key)


def crm_schema() -> ProjectSchema:
    """Customers, their tickets (a status enum, a foreign key), tags keyed by slug, a view."""
    return ProjectSchema(
        {
            "customers": _table(
                "customers",
                ("id",),
                ColumnInfo("id", "bigint", False),
                ColumnInfo("name", "text", False),
                ColumnInfo("email", "text"),
                ColumnInfo("created_at", TIMESTAMP),
            ),
            "tickets": _table(
                "tickets",
                ("id",),
                ColumnInfo("id", "bigint", False),
                ColumnInfo("customer_id", "bigint", False, foreign_key=("customers", "id")),
                ColumnInfo(
                    "status", "ticket_status", False, ("open", "pending", "solved", "closed")
                ),
                ColumnInfo("priority", "integer"),
                ColumnInfo("subject", "text"),
                ColumnInfo("created_at", TIMESTAMP),
                ColumnInfo("updated_at", TIMESTAMP),
            ),
            "tags": _table(
                "tags",
                ("slug",),
                ColumnInfo("slug", "text", False),
                ColumnInfo("label", "text"),
                ColumnInfo("updated_at", TIMESTAMP),
            ),
            "ticket_stats": _table(
                "ticket_stats", (), ColumnInfo("status", "text"), ColumnInfo("n", "bigint")
            ),
        }
    )


def hospital_schema() -> ProjectSchema:
    return schema_from_migrations(MIGRATIONS_DIR)


SCHEMAS = {"hospital": hospital_schema, "crm": crm_schema}


def columns_of(schema: ProjectSchema) -> dict[str, tuple[str, ...]]:
    return {name: schema.columns(name) for name in schema.tables}


def uncommented(text: str) -> str:
    """The text with every commented-out setting uncommented (explanations stay comments)."""
    return "\n".join(COMMENTED_SETTING.sub(r"\1\2", line) for line in text.splitlines()) + "\n"


def comparable(page: Page) -> list[tuple[WidgetType, Any, str | None, bool]]:
    """A page's widgets without their key paths; a map's label_property, which TOML cannot
    set to ``None`` and which matters only with a GeoJSON, at its default."""
    out = []
    for widget in page.widgets:
        spec = widget.spec
        if isinstance(spec, map_widget.MapSpec):
            spec = dataclasses.replace(spec, label_property="name")
        out.append((widget.type, spec, widget.title, widget.events_per_min))
    return out


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_starter_parses_binds_every_keyed_table_and_names_only_known_columns(
    name: str,
) -> None:
    schema = SCHEMAS[name]()
    text = render_starter(schema, source_note=NOTE)
    config = parse_config(text, "rtdata.toml")
    keyed = {t.name: t.primary_key for t in schema.tables.values() if t.primary_key}
    assert config.tables() == keyed
    assert config.column_problems(columns_of(schema)) == []
    assert config.pages[0].name == "overview"
    assert len(config.pages) == 1 + len(keyed)


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_pages_are_the_ones_the_zero_config_dashboard_builds(name: str) -> None:
    schema = SCHEMAS[name]()
    config = parse_config(render_starter(schema, source_note=NOTE))
    built = default_pages.build(schema, config.tables(), {})
    assert [(p.name, p.title, p.icon) for p in config.pages] == [
        (p.name, p.title, p.icon) for p in built.pages
    ]
    assert [comparable(p) for p in config.pages] == [comparable(p) for p in built.pages]
    assert config.labels == built.labels


@pytest.mark.parametrize("name", SCHEMAS)
def test_uncommenting_every_example_still_parses_and_shows_every_widget_type(name: str) -> None:
    config = parse_config(uncommented(render_starter(SCHEMAS[name](), source_note=NOTE)))
    used = {w.type for p in config.pages for w in p.widgets}
    assert used == set(WidgetType)
    assert config.presence_channels() == ("online",)
    assert config.dashboard.wall_pages[0] == "overview"


def test_the_hospital_examples_name_only_columns_the_tables_have() -> None:
    schema = hospital_schema()
    config = parse_config(uncommented(render_starter(schema, source_note=NOTE)))
    assert config.column_problems(columns_of(schema)) == []


def test_crm_bindings_key_resync_and_labels() -> None:
    text = render_starter(crm_schema(), source_note=NOTE)
    config = parse_config(text)
    bindings = {b.table: b for c in config.channels for b in c.postgres_changes}
    assert bindings["tags"].primary_key == ("slug",)
    assert bindings["tickets"].resync_column == "updated_at"
    assert bindings["customers"].resync_column is None
    assert "ticket_stats" not in bindings
    assert re.search(r"^# Not followed: ticket_stats \(no primary key", text, re.MULTILINE)
    assert {c: (lb.table, lb.key_column, lb.label_column) for c, lb in config.labels.items()} == {
        "customer_id": ("customers", "id", "name")
    }


def test_the_lifecycle_board_takes_the_enum_statuses_in_order() -> None:
    config = parse_config(render_starter(crm_schema(), source_note=NOTE))
    (board,) = [
        w.spec
        for p in config.pages
        for w in p.widgets
        if isinstance(w.spec, lifecycle.LifecycleSpec)
    ]
    assert board.table == "tickets"
    assert board.statuses == ("open", "pending", "solved", "closed")
    assert board.terminal == ("solved", "closed")  # default_pages.TERMINAL_WORDS
    assert board.created_column == "created_at"


def test_unknown_statuses_give_a_commented_board_with_placeholders() -> None:
    schema = hospital_schema()
    text = render_starter(schema, source_note=NOTE)
    config = parse_config(text)
    assert not any(w.type is WidgetType.LIFECYCLE for p in config.pages for w in p.widgets)
    with_status = [n for n, t in schema.tables.items() if "status" in t.columns and t.primary_key]
    assert with_status  # the hospital's statuses are text columns, not enums
    for table in with_status:
        assert f"# The statuses of {table}.status are not in the schema" in text
    boards = [
        w.spec
        for p in parse_config(uncommented(text)).pages
        for w in p.widgets
        if isinstance(w.spec, lifecycle.LifecycleSpec)
    ]
    placeholders = [b for b in boards if b.table in with_status]
    assert sorted(b.table for b in placeholders) == sorted(with_status)
    assert all(b.statuses == PLACEHOLDER_STATUSES for b in placeholders)


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_text_holds_no_credential_and_starts_with_a_header(name: str) -> None:
    text = render_starter(SCHEMAS[name](), source_note=NOTE)
    assert text.startswith("# rtdata.toml: ")
    assert f"`rtdata init` from {NOTE}" in text.replace("\n# ", " ")
    document = tomllib.loads(uncommented(text))
    keys = re.findall(r"^\s*#?\s*([A-Za-z_]+) = ", text, re.MULTILINE)
    assert not {k.lower() for k in keys} & {"key", "apikey", "url", "token", "secret"}
    assert "eyJ" not in text
    assert "service_role" not in text
    assert set(document) == {"dashboard", "channels", "labels", "pages"}
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_source_note_cannot_break_out_of_its_comment() -> None:
    text = render_starter(crm_schema(), source_note='x\n[evil]\nvalue = "1"\r\x00')
    assert "[evil]" in text  # as comment text, on a "#" line
    assert "evil" not in tomllib.loads(text)
    parse_config(text)


def test_an_empty_project_gives_a_file_that_follows_every_table() -> None:
    text = render_starter(ProjectSchema({}), source_note=NOTE)
    config = parse_config(text)
    assert config.channels == ()
    assert config.discovers
    assert [p.name for p in config.pages] == ["overview"]
    assert parse_config(uncommented(text)).pages  # the examples name a placeholder table


def test_names_the_file_cannot_hold_are_left_out_with_a_note() -> None:
    odd = _table("order-items", ("id",), ColumnInfo("id", "bigint", False))
    pair = _table(
        "memberships",
        ("team_id", "user_id"),
        ColumnInfo("team_id", "bigint", False),
        ColumnInfo("user_id", "bigint", False),
        ColumnInfo("status", "text"),
    )
    text = render_starter(
        ProjectSchema({"order-items": odd, "memberships": pair}), source_note=NOTE
    )
    config = parse_config(text)
    assert config.tables() == {"memberships": ("team_id", "user_id")}
    assert "order-items (a table or key name rtdata.toml cannot hold)" in text
    # A composite key has no single key column: no lifecycle board, not even commented out.
    assert "The statuses of memberships.status" not in text


def test_a_key_column_other_than_id_gives_a_full_label_table() -> None:
    schema = ProjectSchema(
        {
            "teams": _table(
                "teams", ("code",), ColumnInfo("code", "text", False), ColumnInfo("title", "text")
            ),
            "players": _table(
                "players",
                ("id",),
                ColumnInfo("id", "bigint", False),
                ColumnInfo("team_code", "text", foreign_key=("teams", "code")),
            ),
        }
    )
    text = render_starter(schema, source_note=NOTE)
    assert 'team_code = { table = "teams", key_column = "code", label_column = "title" }' in text
    label = parse_config(text).labels["team_code"]
    assert (label.table, label.key_column, label.label_column) == ("teams", "code", "title")


# ---------------------------------------------------------------- TOML values

NO_SURROGATES = st.text(st.characters(exclude_categories=["Cs"]))


@given(NO_SURROGATES)
def test_strings_round_trip(text: str) -> None:
    assert tomllib.loads(f"v = {toml_value(text)}")["v"] == text


@given(NO_SURROGATES.filter(bool))
def test_keys_round_trip(key: str) -> None:
    assert tomllib.loads(f"{toml_key(key)} = 1") == {key: 1}


@given(
    st.recursive(
        st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | NO_SURROGATES,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(NO_SURROGATES, inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_nested_values_round_trip(value: Any) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_escapes_are_toml_escapes() -> None:
    assert toml_value('a "b" \\ c\n\t\x7f') == '"a \\"b\\" \\\\ c\\n\\t\\u007f"'
    assert toml_key("status") == "status"
    assert toml_key("two words") == '"two words"'
    assert toml_value(("a", 1, 2.5, True)) == '["a", 1, 2.5, true]'
    assert toml_value({"new": 600}) == "{ new = 600 }"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "has no TOML form"),
        (math.nan, "not a finite number"),
        (-math.inf, "not a finite number"),
        ("\ud800", "lone surrogate"),
        (object(), "has no TOML form"),
    ],
)
def test_values_without_a_toml_form_are_refused(value: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        toml_value(value)

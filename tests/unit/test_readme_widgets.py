"""The README's widget examples are a config rtdata accepts: every block parses and every widget
type is shown."""

from __future__ import annotations

import re
from pathlib import Path

from rtdata.config import parse_config
from rtdata.layout import WidgetType

README = Path(__file__).resolve().parents[2] / "README.md"


def _widget_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Pages and widgets") : text.index("## Analysts")]
    return re.findall(r"```toml\n(.*?)```", section, flags=re.S)


def _config_text() -> str:
    blocks = "\n".join(_widget_blocks())
    tables = sorted(set(re.findall(r'^\s*table = "(\w+)"', blocks, flags=re.M)))
    tables += ["customers"]  # the table [labels] names
    bindings = "".join(f'  [[channels.postgres_changes]]\n  table = "{t}"\n' for t in tables)
    channels = (
        f'[[channels]]\nname = "tables"\n{bindings}'
        '[[channels]]\nname = "online"\npresence = true\n'
        '[[channels]]\nname = "announcements"\nbroadcast = "*"\n'
    )
    return channels + blocks


def test_the_readme_documents_every_widget_type_in_a_config_that_parses() -> None:
    config = parse_config(_config_text(), "README.md")
    (page,) = config.pages
    assert {w.type for w in page.widgets} == set(WidgetType)
    assert "customer_id" in config.labels

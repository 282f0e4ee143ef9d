"""The local server's limits (``rtdata.server.limits``) are written down: each has a docstring,
and the README's "Limits and hostile input" section names every one."""

from __future__ import annotations

from pathlib import Path

from rtdata.server import limits

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Limits and hostile input")
    return text[start : text.index("\n## ", start)]


def test_every_limit_has_a_positive_default_and_a_docstring() -> None:
    source = Path(limits.__file__).read_text(encoding="utf-8")
    for name in limits.__all__:
        value = getattr(limits, name)
        assert isinstance(value, int), name
        assert value > 0, name
        after = source[source.index(f"\n{name}: Final") :]
        assert after.split("\n", 3)[2].startswith('"""'), f"{name} has no docstring"


def test_the_readme_names_every_limit() -> None:
    section = _section()
    missing = [name for name in limits.__all__ if f"`{name}`" not in section]
    assert not missing, f"the README's limits section does not name {missing}"
    assert "`rtdata.tables.MAX_TOMBSTONES`" in section  # the collector's own bound

"""Text from rows reaches feeds and toasts as text: no link, image, autolink, code or LaTeX."""

from __future__ import annotations

import pytest

from rtdata.dashboard.render import _plain


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("[phish](http://evil.example)", r"\[phish\](http://evil.example)"),
        ("![x](http://tracker.example/p.gif)", r"!\[x\](http://tracker.example/p.gif)"),
        ("<http://evil.example>", r"\<http://evil.example\>"),
        ("`rm -rf`", r"\`rm -rf\`"),
        ("$x^2$ paid $5", r"\$x^2\$ paid \$5"),
        ("a\\b", r"a\\b"),
        ("#251 trauma is en_route", "#251 trauma is en_route"),
    ],
)
def test_row_text_cannot_become_markup(value: str, shown: str) -> None:
    assert _plain(value) == shown

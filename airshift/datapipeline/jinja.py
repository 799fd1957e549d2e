"""Templates made of literal text and Jinja expressions, rendered without injection.

Why this exists: Data Pipeline text is copied into Airflow templated fields, where Jinja
would interpret any ``{{``, ``{%`` or ``{#`` it contains. Literal text is escaped, and
string constants inside generated Jinja expressions are written with escapes for every
character that could end the literal or the expression, so pipeline text stays text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from airshift.errors import AirshiftError


@dataclass(frozen=True)
class Jinja:
    """A Jinja expression (the text between ``{{`` and ``}}``)."""

    expr: str


@dataclass
class Template:
    """Literal text and Jinja expressions, in order."""

    parts: list[str | Jinja] = field(default_factory=list)

    @classmethod
    def text(cls, value: str) -> Template:
        return cls([value] if value else [])

    @property
    def is_static(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def static(self) -> str:
        """The literal value; only for templates without Jinja."""
        if not self.is_static:
            raise ValueError("template has run-time parts")
        return "".join(p for p in self.parts if isinstance(p, str))

    def __add__(self, other: Template | str) -> Template:
        more = Template.text(other).parts if isinstance(other, str) else other.parts
        return Template([*self.parts, *more])

    def startswith_static(self) -> str:
        """The leading literal text (before the first Jinja expression)."""
        lead = []
        for part in self.parts:
            if not isinstance(part, str):
                break
            lead.append(part)
        return "".join(lead)

    def drop_prefix(self, count: int) -> Template:
        """The template without its first ``count`` literal characters."""
        parts = list(self.parts)
        while count and parts and isinstance(head := parts[0], str):
            parts.pop(0)
            if len(head) > count:
                parts.insert(0, head[count:])
            count = max(0, count - len(head))
        return Template(parts)

    def render(self) -> str:
        """The string for an Airflow templated field."""
        out: list[str] = []
        for index, part in enumerate(self.parts):
            if isinstance(part, Jinja):
                out.append("{{ " + part.expr + " }}")
            else:
                followed_by_jinja = index + 1 < len(self.parts)
                out.append(escape_text(part, followed_by_jinja))
        return "".join(out)

    def as_expr(self) -> str:
        """The whole template as one Jinja string expression (``'a' ~ (x) ~ 'b'``)."""
        if not self.parts:
            return "''"
        if len(self.parts) == 1 and isinstance(self.parts[0], Jinja):
            return self.parts[0].expr
        return " ~ ".join(literal(p) if isinstance(p, str) else f"({p.expr})" for p in self.parts)


def sql_quoted(template: Template) -> Template:
    """The text for inside a SQL string literal: quotes doubled, also in run-time values."""
    return Template(
        [
            p.replace("'", "''")
            if isinstance(p, str)
            else Jinja(f'({p.expr}) | replace("\'", "\'\'")')
            for p in template.parts
        ]
    )


def escape_text(text: str, followed_by_jinja: bool = False) -> str:
    """Make literal text render as itself: each ``{`` that could open a Jinja tag is quoted."""
    out = []
    for index, ch in enumerate(text):
        nxt = text[index + 1] if index + 1 < len(text) else None
        if ch == "{" and (nxt in ("{", "%", "#") or (nxt is None and followed_by_jinja)):
            out.append("{{ '{' }}")
        else:
            out.append(ch)
    return "".join(out)


def literal(value: str) -> str:
    """A Jinja string literal for any text.

    Jinja lexes string literals as whole tokens, so braces inside them are harmless; only
    the quote, the backslash and non-printable characters (newlines included) need escapes,
    which Jinja decodes with ``unicode-escape``.
    """
    out = []
    for ch in value:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "'" + "".join(out) + "'"


_JODA = {
    "YYYY": "%Y",
    "yyyy": "%Y",
    "YY": "%y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "hh": "%I",
    "mm": "%M",
    "ss": "%S",
    "a": "%p",
    "EEEE": "%A",
    "EEE": "%a",
    "DDD": "%j",
    "Z": "%z",
    "z": "%Z",
    "M": "%-m",
    "d": "%-d",
    "H": "%-H",
    "h": "%-I",
    "m": "%-M",
    "s": "%-S",
}
_JODA_RUN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+")


def joda_to_strftime(pattern: str, where: str) -> list[str | None]:
    """Translate a Joda-Time pattern to strftime pieces; ``None`` stands for milliseconds.

    Unsupported letters are an error rather than a silent mistranslation. Literal ``%``
    becomes ``%%``; ``hh`` stays 12-hour, as Joda means it.
    """
    pieces: list[str | None] = []
    current = ""
    for match in _JODA_RUN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            text = token[1:-1].replace("''", "'") if token != "''" else "'"
            current += text.replace("%", "%%")
        elif token[0].isalpha():
            if token == "SSS":
                pieces.append(current)
                pieces.append(None)
                current = ""
            elif token in _JODA:
                current += _JODA[token]
            else:
                raise AirshiftError(
                    f"{where}: date pattern {pattern!r} uses {token!r}, which has no strftime "
                    "equivalent."
                )
        else:
            current += token.replace("%", "%%")
    if current or not pieces:
        pieces.append(current)
    return pieces

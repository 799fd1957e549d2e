"""A parser for Data Pipeline's ``#{...}`` expression language.

Why a real parser: expressions nest (``format(minusDays(@scheduledStartTime,1),'YYYY')``),
use dotted references through other objects (``node.output.directoryPath``), a method form
(``@scheduledStartTime.format('...')``), arithmetic and string literals that may contain
``}``. Regular expressions get these wrong; a small recursive-descent parser does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airshift.errors import AirshiftError


@dataclass(frozen=True)
class Num:
    value: int | float


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Path:
    """A dotted reference such as ``node.@scheduledStartTime``; ``secret`` for ``#{*myX}``."""

    parts: tuple[str, ...]
    secret: bool = False


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg:
    operand: Expr


Expr = Num | Str | Path | Call | BinOp | Neg

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<name>[*]?@?[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>[-+*/%^(),.])
    )""",
    re.VERBOSE,
)


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise AirshiftError(f"{where}: cannot parse expression #{{{text}}} at {text[pos:]!r}.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, where: str) -> None:
        self.text, self.where = text, where
        self.tokens = _tokens(text, where)
        self.pos = 0

    def fail(self, why: str) -> AirshiftError:
        return AirshiftError(f"{self.where}: invalid expression #{{{self.text}}}: {why}.")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise self.fail(f"expected {value or 'more'}")
        self.pos += 1
        return token

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1] == value

    def parse(self) -> Expr:
        expr = self.additive()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return expr

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.at("+") or self.at("-"):
            op = self.take()[1]
            left = BinOp(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.power()
        while self.at("*") or self.at("/") or self.at("%"):
            op = self.take()[1]
            left = BinOp(op, left, self.power())
        return left

    def power(self) -> Expr:
        left = self.unary()
        if self.at("^"):
            self.take()
            return BinOp("^", left, self.power())
        return left

    def unary(self) -> Expr:
        if self.at("-"):
            self.take()
            return Neg(self.unary())
        return self.postfix()

    def args(self) -> tuple[Expr, ...]:
        self.take("(")
        args: list[Expr] = []
        if not self.at(")"):
            args.append(self.additive())
            while self.at(","):
                self.take()
                args.append(self.additive())
        self.take(")")
        return tuple(args)

    def postfix(self) -> Expr:
        expr = self.primary()
        while self.at("."):
            self.take()
            kind, name = self.take()
            if kind != "name":
                raise self.fail(f"expected a name after '.', got {name!r}")
            if self.at("("):  # method form: x.format('...') is format(x, '...')
                expr = Call(name, (expr, *self.args()))
            elif isinstance(expr, Path):
                expr = Path((*expr.parts, name), expr.secret)
            else:
                raise self.fail(f"cannot read field {name!r} of a computed value")
        return expr

    def primary(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            return Num(float(value) if "." in value else int(value))
        if kind == "str":
            return Str(re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "name":
            if self.at("(") and not value.startswith(("@", "*")):
                return Call(value, self.args())
            secret = value.startswith("*")
            return Path((value.lstrip("*"),), secret)
        if value == "(":
            expr = self.additive()
            self.take(")")
            return expr
        raise self.fail(f"unexpected {value!r}")


def parse_expression(text: str, where: str) -> Expr:
    """Parse the text between ``#{`` and ``}``."""
    return _Parser(text, where).parse()


def split_template(text: str, where: str) -> list[str | Expr]:
    """Split a field value into literal text and parsed ``#{...}`` expressions.

    The closing brace is found by scanning, skipping quoted strings, so ``'}'`` inside a
    format pattern does not end the expression early.
    """
    parts: list[str | Expr] = []
    literal: list[str] = []
    pos = 0
    while pos < len(text):
        if text.startswith("#{", pos):
            end, quote = pos + 2, ""
            while end < len(text):
                ch = text[end]
                if quote:
                    if ch == "\\":
                        end += 1
                    elif ch == quote:
                        quote = ""
                elif ch in "'\"":
                    quote = ch
                elif ch == "}":
                    break
                end += 1
            if end >= len(text):
                raise AirshiftError(f"{where}: unterminated expression in {text!r}.")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(parse_expression(text[pos + 2 : end], where))
            pos = end + 1
        else:
            literal.append(text[pos])
            pos += 1
    if literal:
        parts.append("".join(literal))
    return parts

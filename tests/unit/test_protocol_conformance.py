"""The catalogue against the wire contract: `reference/message.js`, parsed here.

The file is regular: every event is a call `message({event: "x", f: v, ...})` or
`message2({event: "x", fields: {f: {init: v, desc: "..."}}, desc: "..."})`,
sometimes wrapped in `API(...)`. A small tokenizer for the JavaScript subset it
uses (strings, template literals, numbers, identifiers, punctuation, comments)
and a parser for object literals are enough; everything else is skipped.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.protocol import ALL_MESSAGES, BY_EVENT
from hub.protocol.api import API_EXTENSIONS, REFERENCE_API_EVENTS
from hub.protocol.messages import EXTENSIONS

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "message.js"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


REQUIRED: Any = _Required()
UNDEFINED: Any = _Undefined()


@dataclasses.dataclass
class RefEvent:
    event: str
    fields: dict[str, Any]  # name -> REQUIRED, UNDEFINED or a JSON-like default
    api: bool
    docs: dict[str, str]  # message2 field descriptions


# --------------------------------------------------------------------------- tokenizer


@dataclasses.dataclass(frozen=True)
class Tok:
    kind: str  # "ident", "str", "num", "punct"
    value: Any


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _read_quoted(src: str, i: int) -> tuple[str, int]:
    """Read a '...' or "..." literal starting at src[i]; return (value, next index)."""
    quote = src[i]
    i += 1
    out: list[str] = []
    while True:
        c = src[i]
        if c == "\\":
            nxt = src[i + 1]
            if nxt == "u":
                out.append(chr(int(src[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt == "\n":
                i += 2
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        if c == "\n":
            raise ValueError(f"unterminated string at offset {i}")
        out.append(c)
        i += 1


def _read_template(src: str, i: int) -> tuple[str, int]:
    """Read a `...` literal; `${...}` parts are kept verbatim (they never hold data here)."""
    i += 1
    out: list[str] = []
    while True:
        c = src[i]
        if c == "\\":
            nxt = src[i + 1]
            if nxt == "\n":
                i += 2
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if c == "`":
            return "".join(out), i + 1
        if src.startswith("${", i):
            depth = 0
            start = i
            i += 1
            while True:
                c = src[i]
                if c in "\"'":
                    _, i = _read_quoted(src, i)
                    continue
                if c == "`":
                    _, i = _read_template(src, i)
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
            out.append(src[start:i])
            continue
        out.append(c)
        i += 1


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "\"'":
            s, i = _read_quoted(src, i)
            toks.append(Tok("str", s))
        elif c == "`":
            s, i = _read_template(src, i)
            toks.append(Tok("str", s))
        elif (m := _IDENT.match(src, i)) is not None:
            toks.append(Tok("ident", m.group()))
            i = m.end()
        elif c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            m2 = _NUMBER.match(src, i)
            assert m2 is not None
            text = m2.group()
            value: float | int
            if text.lower().startswith("0x"):
                value = int(text, 16)
            else:
                value = float(text)
                if value.is_integer() and not re.search(r"[.eE]", text):
                    value = int(text)
            toks.append(Tok("num", value))
            i = m2.end()
        else:
            toks.append(Tok("punct", c))
            i += 1
    return toks


# --------------------------------------------------------------------------- literals


class _Parser:
    def __init__(self, toks: list[Tok], pos: int) -> None:
        self.toks = toks
        self.pos = pos

    def peek(self) -> Tok:
        return self.toks[self.pos]

    def take(self, kind: str, value: Any = None) -> Tok:
        tok = self.toks[self.pos]
        if tok.kind != kind or (value is not None and tok.value != value):
            raise ValueError(f"expected {kind} {value!r}, got {tok}")
        self.pos += 1
        return tok

    def value(self) -> Any:
        tok = self.peek()
        if tok.kind == "punct" and tok.value == "{":
            return self.obj()
        if tok.kind == "punct" and tok.value == "[":
            return self.array()
        if tok.kind == "punct" and tok.value == "-":
            self.pos += 1
            return -self.take("num").value
        self.pos += 1
        if tok.kind in ("str", "num"):
            return tok.value
        if tok.kind == "ident":
            consts = {
                "true": True,
                "false": False,
                "null": None,
                "undefined": UNDEFINED,
                "required": REQUIRED,
            }
            if tok.value in consts:
                return consts[tok.value]
        raise ValueError(f"unsupported value {tok}")

    def array(self) -> list[Any]:
        self.take("punct", "[")
        out: list[Any] = []
        while not (self.peek().kind == "punct" and self.peek().value == "]"):
            out.append(self.value())
            if self.peek().value == ",":
                self.pos += 1
        self.take("punct", "]")
        return out

    def obj(self) -> dict[str, Any]:
        self.take("punct", "{")
        out: dict[str, Any] = {}
        while not (self.peek().kind == "punct" and self.peek().value == "}"):
            key = self.peek()
            if key.kind not in ("ident", "str", "num"):
                raise ValueError(f"bad key {key}")
            self.pos += 1
            self.take("punct", ":")
            out[str(key.value)] = self.value()
            if self.peek().kind == "punct" and self.peek().value == ",":
                self.pos += 1
        self.take("punct", "}")
        return out


def parse_message_js(src: str) -> dict[str, RefEvent]:
    """Every event defined in message.js, in file order."""
    toks = tokenize(src)
    events: dict[str, RefEvent] = {}
    for i, tok in enumerate(toks):
        if tok.kind != "ident" or tok.value not in ("message", "message2"):
            continue
        if toks[i + 1 : i + 3] != [Tok("punct", "("), Tok("punct", "{")]:
            continue  # a definition, or a call with a variable
        if i > 0 and toks[i - 1] in (Tok("ident", "function"), Tok("punct", ".")):
            continue
        api = i >= 2 and toks[i - 1] == Tok("punct", "(") and toks[i - 2] == Tok("ident", "API")
        literal = _Parser(toks, i + 2).obj()
        event = literal.pop("event")
        if tok.value == "message":
            fields, docs = literal, {}
        else:
            fields = {k: v.get("init", UNDEFINED) for k, v in literal["fields"].items()}
            docs = {k: v.get("desc", "") for k, v in literal["fields"].items()}
        if event in events:
            raise ValueError(f"event {event!r} defined twice")
        events[event] = RefEvent(event, fields, api, docs)
    return events


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def reference() -> dict[str, RefEvent]:
    if not REFERENCE.is_file():
        pytest.skip(f"reference file {REFERENCE} is absent (expected beside the repository)")
    return parse_message_js(REFERENCE.read_text(encoding="utf-8"))


def _struct_defaults(cls: type[msgspec.Struct]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in msgspec.structs.fields(cls):
        if f.required:
            out[f.encode_name] = REQUIRED
        elif f.default is msgspec.UNSET:
            out[f.encode_name] = UNDEFINED
        elif f.default_factory is not msgspec.NODEFAULT:
            out[f.encode_name] = msgspec.to_builtins(f.default_factory())
        else:
            out[f.encode_name] = msgspec.to_builtins(f.default)
    return out


def test_parser_reads_the_shapes_it_must() -> None:
    src = """
    const x = `a ${JSON.stringify(o, null)} b`; // comment { message({
    function message(obj) { return obj; }
    /* message({event: "commented"}) */
    API(message({ event: "a", id: undefined, n: -1.5, s: 'it\\'s', l: [],
                 d: {k: [1, "x"]}, r: required, }));
    message2({ event: "b", fields: { f: { init: "tar.bz2", desc: `two
    lines` }, g: { desc: "no init" } }, desc: "x" });
    """
    events = parse_message_js(src)
    assert list(events) == ["a", "b"]
    a, b = events["a"], events["b"]
    assert a.api and not b.api
    assert a.fields == {
        "id": UNDEFINED,
        "n": -1.5,
        "s": "it's",
        "l": [],
        "d": {"k": [1, "x"]},
        "r": REQUIRED,
    }
    assert b.fields == {"f": "tar.bz2", "g": UNDEFINED}
    assert b.docs == {"f": "two\n    lines", "g": "no init"}


def test_event_set_matches(reference: dict[str, RefEvent]) -> None:
    only_ours = {e for e in EXTENSIONS if e not in reference}
    assert set(reference) == set(BY_EVENT) - only_ours
    assert len(ALL_MESSAGES) == len(BY_EVENT)


def test_extensions_name_real_events() -> None:
    assert set(EXTENSIONS) <= set(BY_EVENT)
    assert all(why.strip() for why in EXTENSIONS.values())


def test_api_set_matches(reference: dict[str, RefEvent]) -> None:
    assert {e for e, r in reference.items() if r.api} == REFERENCE_API_EVENTS
    assert set(API_EXTENSIONS) <= set(EXTENSIONS)


@pytest.mark.parametrize("event", sorted(BY_EVENT))
def test_fields_defaults_and_required_match(reference: dict[str, RefEvent], event: str) -> None:
    if event not in reference:
        assert event in EXTENSIONS
        return
    ours = _struct_defaults(BY_EVENT[event])
    theirs = reference[event].fields
    extra = set(ours) - set(theirs)
    if extra:
        # Only an extension may add fields, and only as optional ones.
        assert event in EXTENSIONS, f"{event}: fields {extra} are not in the reference"
        assert all(ours[name] is UNDEFINED for name in extra)
        ours = {k: v for k, v in ours.items() if k not in extra}
    assert set(ours) == set(theirs)
    for name, want in theirs.items():
        got = ours[name]
        if want is REQUIRED or want is UNDEFINED:
            assert got is want, f"{event}.{name}: expected {want!r}, struct has {got!r}"
        else:
            assert got == want and type(got) is type(want), f"{event}.{name}"

"""The README's table of every event, and docs/protocol-reference.md, from the code itself.

    .venv/bin/python scripts/event_status.py          # rewrite both
    .venv/bin/python scripts/event_status.py --check  # exit 1 if either is out of date

Nothing in the table is typed by hand but the notes below: an event *works* when
the hub handles it (a route, for events clients send) or produces it (for replies
and pushes), and a test exercises it; the tests named are the ones that use the
event's name, found by reading the test files. `PARTLY` and `NOTES` say where a
working event has limits. tests/unit/test_event_status.py runs `--check`.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hub.app import make_router  # noqa: E402
from hub.protocol.api import API_EVENTS  # noqa: E402
from hub.protocol.docs import SUMMARIES, _cell, _fields  # noqa: E402
from hub.protocol.messages import ALL_MESSAGES, EXTENSIONS  # noqa: E402

BEGIN = "<!-- events:begin (scripts/event_status.py writes this table) -->"
END = "<!-- events:end -->"
MAX_TESTS = 2

# Where a working event has known limits (said once here, shown in the table).
PARTLY: dict[str, str] = {
    "sagews_execute_code": "plain Python; SageMath only when `sage` is installed in the project",
}
NOTES: dict[str, str] = {
    "local_hub": "any message to the project, streams too",
    "query": "get, set and changefeeds; see docs/compatibility.md for refused feed filters",
}


@dataclass(frozen=True)
class TestRef:
    path: str
    name: str
    http: bool

    def link(self) -> str:
        return f"[`{Path(self.path).stem}::{self.name}`]({self.path})"


def _events() -> list[str]:
    return [str(cls.__struct_config__.tag) for cls in ALL_MESSAGES]


CALLS = {"call", "stream", "send", "post", "request", "api", "http_call", "ws_call"}


def _named_events(node: ast.AST, events: set[str]) -> set[str]:
    """Events a function sends or checks: `call("ev", …)`, `{"event": "ev"}`,
    `x["event"] == "ev"`, `event="ev"`, or a `/api/v1/ev` URL."""
    found: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            if name in CALLS:  # helpers may take the event after other arguments
                found.update(str(a.value) for a in n.args if isinstance(a, ast.Constant))
            for kw in n.keywords:
                if kw.arg == "event" and isinstance(kw.value, ast.Constant):
                    found.add(str(kw.value.value))
        elif isinstance(n, ast.Dict):
            for k, v in zip(n.keys, n.values, strict=True):
                if (
                    isinstance(k, ast.Constant)
                    and k.value == "event"
                    and isinstance(v, ast.Constant)
                ):
                    found.add(str(v.value))
        elif isinstance(n, ast.Compare):
            parts = [n.left, *n.comparators]
            if any(
                (
                    isinstance(p, ast.Subscript)
                    and isinstance(p.slice, ast.Constant)
                    and p.slice.value == "event"
                )
                or (
                    isinstance(p, ast.Call)
                    and isinstance(p.func, ast.Attribute)
                    and p.func.attr == "get"
                    and p.args
                    and isinstance(p.args[0], ast.Constant)
                    and p.args[0].value == "event"
                )
                for p in parts
            ):
                for p in parts:
                    if isinstance(p, ast.Constant):
                        found.add(str(p.value))
                    elif isinstance(p, ast.Tuple | ast.List | ast.Set):
                        found.update(str(e.value) for e in p.elts if isinstance(e, ast.Constant))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and "/api/v1/" in n.value:
            found.add(n.value.split("/api/v1/", 1)[1].split("?")[0].strip("/"))
    return found & events


def _priority(path: str) -> int:
    for i, where in enumerate(("tests/e2e/", "tests/integration/", "tests/")):
        if path.startswith(where):
            return i
    return 9


def _test_refs(events: set[str]) -> dict[str, list[TestRef]]:
    """For each event, the tests that send or check it (directly or through a helper
    function of the test files), end-to-end tests first."""
    helpers: dict[str, set[str]] = {}
    tests: list[tuple[str, str, bool, set[str], set[str]]] = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        rel = path.relative_to(REPO).as_posix()
        if "/unit/" in rel:
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            named = _named_events(node, events)
            if not node.name.startswith("test_"):
                helpers.setdefault(node.name, set()).update(named)
                continue
            source = ast.get_source_segment(text, node) or ""
            http = bool(re.search(r"/api/v1|http_url|basic_auth|\bhttp\.post", source))
            called = {
                c.func.id
                for c in ast.walk(node)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
            }
            tests.append((rel, node.name, http, named, called))
    found: dict[str, list[TestRef]] = {e: [] for e in events}
    for rel, name, http, named, called in tests:
        for helper in called:
            named = named | helpers.get(helper, set())
        for event in named:
            found[event].append(TestRef(rel, name, http))
    for refs in found.values():
        refs.sort(key=lambda r: (_priority(r.path), r.path, r.name))
    return found


def _produced_by_hub() -> str:
    """All of the hub's own source, to tell which replies it ever sends."""
    return "\n".join(p.read_text() for p in (REPO / "hub").rglob("*.py"))


def rows() -> list[tuple[str, str, str, str, str]]:
    events = _events()
    routes = make_router().by_event
    refs = _test_refs(set(events))
    source = _produced_by_hub()
    classes = {str(c.__struct_config__.tag): c.__name__ for c in ALL_MESSAGES}
    out = []
    for event in events:
        sent_by_clients = event in routes
        kind = "request" if sent_by_clients else "reply/push"
        if event in API_EVENTS:
            kind += ", API"
        produced = sent_by_clients or (
            f'"{event}"' in source or re.search(rf"\b{classes[event]}\(", source) is not None
        )
        tests = refs[event]
        if produced and tests:
            status = "partly" if event in PARTLY else "works"
        elif produced:
            status = "works, untested"
        else:
            status = "not yet"
        # prefer one WebSocket test and one HTTP test
        chosen: list[TestRef] = []
        for want_http in (False, True):
            for ref in tests:
                if ref.http == want_http and ref not in chosen:
                    chosen.append(ref)
                    break
        chosen = chosen[:MAX_TESTS]
        note = PARTLY.get(event) or NOTES.get(event) or ""
        if event in EXTENSIONS:
            note = (note + "; " if note else "") + "extension"
        shown = ", ".join(r.link() for r in chosen) or "—"
        out.append((event, kind, status, shown, note))
    return out


def table() -> str:
    lines = [
        BEGIN,
        "",
        "| event | kind | status | shown by | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for event, kind, status, shown, note in rows():
        lines.append(f"| `{event}` | {kind} | {status} | {shown} | {_cell(note)} |")
    counts: dict[str, int] = {}
    for _, _, status, _, _ in rows():
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines += ["", f"{len(rows())} events: {summary}.", "", END]
    return "\n".join(lines)


def protocol_reference() -> str:
    """Every event of the catalogue with its fields (facts from the structs)."""
    lines = [
        "# Protocol reference",
        "",
        "Every event the hub knows, generated from its catalogue (`hub/protocol/messages.py`,"
        " which follows `message.js`) by `scripts/event_status.py`; do not edit by hand."
        " Events marked API can also be sent as `POST /api/v1/<event>` (see `hub api-docs`).",
        "",
    ]
    for cls in ALL_MESSAGES:
        event = str(cls.__struct_config__.tag)
        marks = []
        if event in API_EVENTS:
            marks.append("API")
        if event in EXTENSIONS:
            marks.append("extension")
        suffix = f" ({', '.join(marks)})" if marks else ""
        lines += [f"## {event}{suffix}", ""]
        if SUMMARIES.get(event):
            lines += [SUMMARIES[event], ""]
        if event in EXTENSIONS:
            lines += [f"Differs from message.js: {EXTENSIONS[event]}.", ""]
        fields = _fields(cls)
        if fields:
            lines += ["| field | required | default | description |", "| --- | --- | --- | --- |"]
            for name, f in fields.items():
                default = ""
                if "default" in f:
                    import msgspec

                    default = "`" + _cell(msgspec.json.encode(f["default"]).decode()) + "`"
                required = "yes" if f["required"] else "no"
                lines.append(f"| `{name}` | {required} | {default} | {_cell(f['description'])} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def readme_with_table(readme: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < 0:
        raise SystemExit("README.md has no events table markers")
    return readme[:start] + table() + readme[end + len(END) :]


def main(argv: list[str]) -> int:
    readme_path = REPO / "README.md"
    reference_path = REPO / "docs" / "protocol-reference.md"
    readme = readme_path.read_text()
    want_readme = readme_with_table(readme)
    want_reference = protocol_reference()
    if "--check" in argv:
        stale = []
        if readme != want_readme:
            stale.append("README.md")
        if not reference_path.exists() or reference_path.read_text() != want_reference:
            stale.append("docs/protocol-reference.md")
        if stale:
            print(f"out of date: {', '.join(stale)}; run .venv/bin/python scripts/event_status.py")
            return 1
        return 0
    readme_path.write_text(want_readme)
    reference_path.write_text(want_reference)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

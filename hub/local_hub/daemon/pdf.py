"""`print_to_pdf {path, options}`: turn a file of the project into a PDF next to it.

The converter is a real program, found on PATH (or at /usr/bin/chromium):

* HTML, SVG and plain text: headless Chromium prints the page;
* Markdown: pandoc makes a standalone HTML page, which Chromium prints;
* LaTeX: pdflatex, run twice in the file's directory (so references resolve).

A missing converter is an error that names it. Input and output stay inside
the project (`ProjectPaths`), the output must end in `.pdf`, and it only
replaces an older PDF once the new one is complete. Each conversion runs in its
own process group, killed when it takes longer than its time limit.

`options`: `output` (where the PDF goes, relative to HOME; default: the input's
name with `.pdf`), `timeout` (seconds, at most the limit the hub sends),
`header_footer` (Chromium's date/title/page lines; default off).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.handlers import Handler, Reply
from hub.local_hub.daemon.process import Child

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection

DEFAULT_TIMEOUT_S = 60.0  # when the request names no limit (e.g. relayed inside local_hub)
MAX_TIMEOUT_S = 600.0
LOG_TAIL_CHARS = 2000
OPTIONS = ("output", "timeout", "header_footer")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".svg", ".txt"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEX_SUFFIXES = frozenset({".tex"})
SUPPORTED = sorted(HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEX_SUFFIXES)


class PrintToPdf(m.Request, tag="print_to_pdf"):
    path: str
    options: dict[str, Any] | None = None
    timeout: float | None = None  # the hub's limit (print_to_pdf_timeout_s)


def find_program(names: tuple[str, ...], path: str | None) -> str | None:
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    if "chromium" in names and os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return None


def _missing(program: str, what: str) -> ProjectError:
    return ProjectError(
        f"print_to_pdf: converting {what} needs {program}, which is not installed where"
        " this project runs"
    )


def _spawn(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path, name: str) -> Child:
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        try:
            return Child.spawn(argv, cwd=cwd, env=env, output=log)
        except OSError as exc:
            raise ProjectError(f"print_to_pdf: could not start {name}: {exc}") from None


class Job:
    """One conversion: its limits, its scratch directory and the processes it runs."""

    def __init__(self, env: dict[str, str], scratch: Path, deadline: float, limit_s: float):
        self.env = env
        self.scratch = scratch
        self.deadline = deadline
        self.limit_s = limit_s

    async def run(self, argv: list[str], cwd: Path, name: str) -> None:
        log_path = self.scratch / f"{name}.log"
        child = _spawn(argv, cwd, self.env, log_path, name)
        try:
            remaining = self.deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    code = await child.wait()
            except TimeoutError:
                raise ProjectError(
                    f"print_to_pdf: {name} did not finish within {self.limit_s:g} s"
                ) from None
        finally:
            child.kill_group()  # helpers (Chromium's renderers) go with it
            child.close()
        if code != 0:
            tail = log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip()
            raise ProjectError(f"print_to_pdf: {name} failed (exit {code}): {tail}")


async def chromium(job: Job, source: Path, out: Path, header_footer: bool) -> None:
    program = find_program(CHROMIUM_NAMES, job.env.get("PATH"))
    if program is None:
        raise _missing("Chromium (chromium)", "HTML")
    argv = [
        program,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={job.scratch / 'chromium-profile'}",
        f"--print-to-pdf={out}",
    ]
    if not header_footer:
        argv.append("--no-pdf-header-footer")
    argv.append(source.as_uri())
    await job.run(argv, job.scratch, "chromium")


async def markdown(job: Job, source: Path, out: Path, header_footer: bool) -> None:
    pandoc = find_program(("pandoc",), job.env.get("PATH"))
    if pandoc is None:
        raise _missing("pandoc", "Markdown")
    # Next to the source, so its relative images and links still resolve.
    page = source.parent / f".{source.stem}.print-to-pdf.{os.getpid()}.html"
    try:
        argv = [pandoc, "--standalone", "--metadata", f"pagetitle={source.stem}"]
        argv += ["-o", str(page), str(source)]
        await job.run(argv, source.parent, "pandoc")
        await chromium(job, page, out, header_footer)
    finally:
        with contextlib.suppress(OSError):
            page.unlink()


async def latex(job: Job, source: Path, out: Path, header_footer: bool) -> None:
    pdflatex = find_program(("pdflatex",), job.env.get("PATH"))
    if pdflatex is None:
        raise _missing("pdflatex (TeX Live)", "LaTeX")
    argv = [
        pdflatex,
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-no-shell-escape",
        f"-output-directory={job.scratch}",
        source.name,
    ]
    for _ in range(2):
        await job.run(argv, source.parent, "pdflatex")
    made = job.scratch / f"{source.stem}.pdf"
    if not made.exists():
        raise ProjectError("print_to_pdf: pdflatex wrote no PDF")
    shutil.move(made, out)


def _options(raw: dict[str, Any] | None, limit_s: float) -> tuple[str | None, float, bool]:
    options = raw or {}
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ProjectError(
            f"print_to_pdf: unknown option {', '.join(unknown)} (known: {', '.join(OPTIONS)})"
        )
    output = options.get("output")
    if output is not None and (not isinstance(output, str) or not output.endswith(".pdf")):
        raise ProjectError("print_to_pdf: options.output must be a path ending in .pdf")
    timeout = options.get("timeout", limit_s)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ProjectError("print_to_pdf: options.timeout must be a positive number of seconds")
    if timeout > limit_s:
        raise ProjectError(f"print_to_pdf: options.timeout may be at most {limit_s:g} s")
    header_footer = options.get("header_footer", False)
    if not isinstance(header_footer, bool):
        raise ProjectError("print_to_pdf: options.header_footer must be true or false")
    return output, float(timeout), header_footer


def _is_pdf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(5) == b"%PDF-"
    except OSError:
        return False


async def print_to_pdf(msg: PrintToPdf, conn: HubConnection) -> Reply:
    project = conn.project
    paths = project.paths
    if not msg.path:
        raise ProjectError("print_to_pdf: path must be given")
    limit_s = min(msg.timeout or DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S)
    output, timeout_s, header_footer = _options(msg.options, limit_s)
    source = paths.resolve(msg.path)
    if not source.is_file():
        raise ProjectError(f"print_to_pdf: no such file '{msg.path}'")
    suffix = source.suffix.lower()
    if suffix in HTML_SUFFIXES:
        convert = chromium
    elif suffix in MARKDOWN_SUFFIXES:
        convert = markdown
    elif suffix in TEX_SUFFIXES:
        convert = latex
    else:
        raise ProjectError(
            f"print_to_pdf: cannot convert '{suffix or source.name}' files"
            f" (supported: {', '.join(SUPPORTED)})"
        )
    out = paths.resolve(output or paths.relative(source.with_suffix(".pdf")))
    if out.suffix.lower() != ".pdf":  # a symlink named *.pdf pointing elsewhere
        raise ProjectError("print_to_pdf: the output must be a .pdf file")
    if out == source or out.is_dir():
        raise ProjectError(f"print_to_pdf: cannot write the PDF to '{paths.relative(out)}'")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_root = project.config.smc_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="pdf-", dir=tmp_root))
    env = dict(project.config.env)
    env["HOME"] = str(scratch)  # converters' caches and fontconfig stay out of the project
    job = Job(env, scratch, time.monotonic() + timeout_s, timeout_s)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        await convert(job, source, partial, header_footer)
        if not _is_pdf(partial):
            raise ProjectError("print_to_pdf: the converter wrote no PDF")
        os.replace(partial, out)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    return {"event": "printed_to_pdf", "path": paths.relative(out)}


HANDLERS: dict[type[m.Request], Handler] = {PrintToPdf: print_to_pdf}

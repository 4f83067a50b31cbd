"""The documentation stands on its own and its examples run.

* Every document a project file cites is in the repository (a user of the package never has
  anything else), and every ``docs/<name>.md §N`` citation names a section that exists.
* The README's tour (its ```` ```text runnable ```` transcript) is replayed command by command
  on the demo's files, and every ```` ```python runnable ```` block of the README and of
  docs/ runs in a temporary directory. A Python block that is not marked runnable must say,
  right after it, why the test does not execute it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w+)( runnable)?\n(.*?)^```\n", re.S | re.M)
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".in", ""}
# Markdown files the toolkit writes (a sweep's and the demo's report, the model survey): named
# in the code as outputs, not cited as documentation.
GENERATED = {"report.md", "survey.md"}
# where the reference notes of the developers live; a user never has them (spelled in pieces so
# that this file does not refer to them itself)
FORBIDDEN = tuple(
    a + b
    for a, b in (
        ("../", "shared"),
        ("/work/", "shared"),
        ("spec/", "coreml-"),
        ("spec/", "update-task"),
    )
)


def project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if Path(name).suffix in TEXT_SUFFIXES]


def test_cited_documents_are_in_the_repository():
    files = project_files()
    names = {path.name for path in files}
    relative = [str(path.relative_to(ROOT)) for path in files]
    missing = []
    for path in files:
        text = path.read_text(errors="replace")
        for forbidden in FORBIDDEN:
            assert forbidden not in text, f"{path.relative_to(ROOT)} refers to {forbidden}"
        for match in re.finditer(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w-]+\.md)\b", text):
            cited = match.group(1)
            before = text[max(0, match.start() - 200) : match.start()]
            if re.search(r"https?://\S*$", before):
                continue  # part of a URL: a public document, not ours
            if Path(cited).name in GENERATED:
                continue
            if "/" in cited:  # from the root, beside the citing file, or inside a package
                found = (
                    (ROOT / cited).exists()
                    or (path.parent / cited).exists()
                    or any(name.endswith("/" + cited) for name in relative)
                )
            else:
                found = cited in names
            if not found:
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    assert not missing, "\n".join(missing)


def test_cited_sections_exist():
    headings = {}
    for document in (ROOT / "docs").glob("*.md"):
        numbers = re.findall(r"^#+ (\d+(?:\.\d+)?)\.? ", document.read_text(), re.M)
        headings[document.name] = set(numbers)
    wrong = []
    for path in project_files():
        text = path.read_text(errors="replace")
        pattern = r"(?:docs/|\[)([\w-]+\.md) ((?:§\d+(?:\.\d+)?(?:, )?)+)"
        for match in re.finditer(pattern, text):
            document, sections = match.group(1), re.findall(r"§(\d+(?:\.\d+)?)", match.group(2))
            if document not in headings:
                continue  # the test above reports a missing document
            for section in sections:
                if section not in headings[document]:
                    wrong.append(f"{path.relative_to(ROOT)} cites {document} §{section}")
    assert not wrong, "\n".join(wrong)


def blocks(kind: str):
    """``(document, index, code)`` of every runnable block of ``kind``."""
    found = []
    for document in DOCUMENTS:
        for index, match in enumerate(BLOCK.finditer(document.read_text())):
            if match.group(1) == kind and match.group(2):
                found.append(pytest.param(document, match.group(3), id=f"{document.name}-{index}"))
    return found


def test_python_blocks_that_do_not_run_say_why():
    # ARCHITECTURE.md's blocks are interface sketches for contributors, not examples
    for document in (d for d in DOCUMENTS if d.name != "ARCHITECTURE.md"):
        text = document.read_text()
        for match in BLOCK.finditer(text):
            if match.group(1) == "python" and not match.group(2):
                after = text[match.end() : match.end() + 300].lower()
                assert "not executed" in after, (
                    f"{document.name}: a python block is neither marked runnable nor followed "
                    f"by why it is not executed:\n{match.group(3)[:200]}"
                )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """A directory with the demo's outputs in ``demo-output/`` (the quick demo)."""
    directory = tmp_path_factory.mktemp("readme")
    result = subprocess.run(
        [sys.executable, "-m", "updatable.cli", "demo", "--quick", "-o", "demo-output"],
        cwd=directory, capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return directory


def _env():
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


@pytest.mark.parametrize("document, code", blocks("python"))
def test_python_examples_run(document, code, demo_dir, tmp_path):
    if "demo-output" in code:
        (tmp_path / "demo-output").symlink_to(demo_dir / "demo-output")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=_env(),
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, f"{document.name}:\n{result.stderr}"


def tour_commands(transcript: str) -> list[tuple[list[str], list[str]]]:
    """``(argv, shown output lines)`` of every ``$ command`` in a transcript."""
    commands, lines = [], transcript.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + " " + lines[i].strip()
            i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            if lines[i].strip():
                shown.append(lines[i])
            i += 1
        commands.append((shlex.split(command), shown))
    return commands


@pytest.mark.parametrize("document, transcript", blocks("text"))
def test_the_readme_tour_runs_as_written(document, transcript, demo_dir):
    """Each command's exit code; an error's exact message; validate's exact output; every
    "wrote X" line. A file the transcript names that the quick demo did not draw (the full
    demo draws other examples) is replaced by one of the same class."""
    commands = tour_commands(transcript)
    assert len(commands) >= 5
    for argv, shown in commands:
        assert argv[0] == "updatable", argv
        argv = [_existing(demo_dir, arg) for arg in argv[1:]]
        result = subprocess.run(
            [sys.executable, "-m", "updatable.cli", *argv], cwd=demo_dir, capture_output=True,
            text=True, env=_env(), timeout=600,
        )  # fmt: skip
        # the documentation speaks the current grammar: no spelling of it is deprecated
        assert "deprecated" not in result.stderr, (argv, result.stderr)
        errors = [line for line in shown if ": error: " in line]
        if errors:
            assert result.returncode == 2, (argv, result.stderr)
            assert errors[0] in result.stderr, (argv, result.stderr)
            continue
        assert result.returncode == 0, (argv, result.stderr)
        if argv[0] == "validate":
            assert result.stdout.splitlines() == shown, argv
        for line in shown:
            if line.startswith("wrote "):
                assert line.split(" (")[0] in result.stdout, (line, result.stdout)


def _existing(directory: Path, arg: str) -> str:
    path = directory / arg
    if arg.startswith("demo-output/") and arg.endswith(".png") and not path.exists():
        return str(sorted(path.parent.iterdir())[0].relative_to(directory))
    return arg

"""The README and the pages in docs/ as a reader uses them: every link leads somewhere, every
runtime command and Python example the README shows works as written, from any directory, and
the changelog names the version and the model that ship.

The model card and the release block are checked against the shipped model in
tests/test_shipped_figures.py.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)
RUNTIME_COMMANDS = ("mnistgen", "mnistgen-dataset")  # what the README shows that runs without training
OUTPUT_FILE = re.compile(r"[\w./-]+\.(?:png|npy|gif|gz|json)\b")
SHORT_SHA256 = 12


def _prose(text: str) -> str:
    """The text without code: links are only read where a reader sees them as links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(page: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(page.read_text(encoding="utf-8")))
            if not re.match(r"[a-z]+:", target)]  # http:, https:, mailto: lead off the repository


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_and_image_leads_to_a_file_and_heading(page: Path):
    assert page.is_file(), page
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, broken


def test_the_readme_links_each_page_in_docs():
    linked = {(REPO / target.partition("#")[0]).resolve() for target in _links(REPO / "README.md")}
    assert set(PAGES[2:]) <= linked, sorted(str(page) for page in set(PAGES[2:]) - linked)


def _blocks(language: str) -> list[str]:
    return [code for lang, code in FENCE.findall((REPO / "README.md").read_text(encoding="utf-8")) if lang == language]


def _runtime_commands() -> list[tuple[str, list[str]]]:
    """(command line, files its comment promises) for each runtime command in the README's bash
    blocks; a comment line under a command describes that command's output."""
    commands: list[tuple[str, list[str]]] = []
    for block in _blocks("bash"):
        outputs = None  # the files of the block's last runtime command
        for line in block.splitlines():
            command, _, comment = (part.strip() for part in line.partition("#"))
            if command.split()[:2] == ["mnistgen", "serve"]:
                continue  # a server runs until stopped: tests/test_serve.py starts and queries it
            if command and command.split()[0] in RUNTIME_COMMANDS:
                outputs = OUTPUT_FILE.findall(comment)
                commands.append((command, outputs))
            elif command:
                outputs = None
            elif outputs is not None:
                outputs.extend(OUTPUT_FILE.findall(comment))
    return commands


def test_the_readme_shows_how_to_write_100_sevens_to_a_folder():
    command_line = (REPO / "README.md").read_text(encoding="utf-8").split("## Command line", 1)[1]
    first = FENCE.search(command_line).group(2).splitlines()[0]
    assert first.startswith("mnistgen 7 --count 100 --out "), first


def test_the_readme_runtime_commands_work_as_written_from_any_directory(tmp_path: Path):
    bin_dir = Path(sys.executable).parent
    if shutil.which("mnistgen", path=str(bin_dir)) is None:
        pytest.skip("console scripts not installed beside this interpreter")
    commands = _runtime_commands()
    assert len(commands) >= 8, commands
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command, outputs in commands:
        # through a shell, as a reader types it (the stdout example redirects to a file)
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stderr.decode(errors='replace')}"
        missing = [name for name in outputs if not (tmp_path / name).is_file()]
        assert not missing, f"{command} did not write {missing}"


def test_the_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocks = _blocks("python")
    assert blocks
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})


def _changelog_section(version: str) -> str:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert sections, "CHANGELOG.md has no version section (## X.Y.Z)"
    newest = sections[0]
    assert newest.splitlines()[0].strip() == version, f"the newest CHANGELOG section is not {version}"
    return newest


def test_the_changelog_names_the_installed_version_and_the_model_it_ships():
    # a new shipped model without a changelog entry that names it fails here: the version moves with the model
    section = _changelog_section(metadata.version("mnistgen"))
    sha256 = hashlib.sha256((REPO / "models" / "generator.onnx").read_bytes()).hexdigest()
    assert sha256[:SHORT_SHA256] in section, f"CHANGELOG's {metadata.version('mnistgen')} does not name {sha256[:12]}"

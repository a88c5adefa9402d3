"""The READMEs cannot rot silently.

- Every ```python block of README.md runs (pytest-markdown-docs, in a child
  pytest run; the fixtures the blocks name are in `tests/readme_fixtures.py`).
- Every internal link of README.md and project/README.md resolves: files and
  folders exist, and `#anchors` are headings of the target file, slugged as
  GitHub slugs them.
- Every config, script and repository file that they name exists, every
  `spacy project run X` is a command or workflow of project/project.yml, and
  every `python -m MODULE` (and `python -m spacy_globalpointer|spacy COMMAND`)
  exists.
"""
import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Dict, List, Set

import pytest
import srsly
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PROJECT_README = ROOT / "project" / "README.md"
READMES = [README, PROJECT_README]
# Folders of the repository whose files are sources, not run outputs: a path
# that a README names inside one of them must exist.
SOURCE_DIRS = [
    ROOT, ROOT / ".ci", ROOT / "configs", ROOT / "spacy_globalpointer", ROOT / "tests",
    ROOT / "project", ROOT / "project" / "scripts", ROOT / "project" / "configs",
    ROOT / "project" / "benchmarks",
]
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
PATH = re.compile(r"(?<![\w/.${}-])((?:\.\./)*\.?[\w-]+(?:/[\w.-]+)+)")


def split_markdown(text: str):
    """(prose lines, code lines) of a Markdown text: fenced code apart from
    the rest; inline code spans stay in the prose."""
    prose: List[str] = []
    code: List[str] = []
    fence = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and closes(line, fence):
            fence = None
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    return prose, code


def closes(line: str, fence: str) -> bool:
    """Whether a line closes a code fence opened by `fence` (``` or ~~~)."""
    closing = f" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\\s*"
    return re.fullmatch(closing, line) is not None


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (no Markdown syntax)
    lower-cased, every character but letters, marks, digits, connector
    punctuation (`_`), spaces and hyphens removed, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    kept = (
        char for char in text.strip().lower()
        if char in " -" or unicodedata.category(char)[0] in "LMN"
        or unicodedata.category(char) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    """The anchors of a Markdown file: its headings' slugs (repeats get -1,
    -2, ... as on GitHub) and explicit HTML ids and names."""
    prose, _ = split_markdown(path.read_text(encoding="utf8"))
    found: Set[str] = set()
    seen: Dict[str, int] = {}
    for line in prose:
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$", line)
        if match:
            slug = github_slug(match.group(1))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
        found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line))
    return found


def internal_links(path: Path) -> List[str]:
    """The link targets of a file's prose that are not URLs."""
    prose, _ = split_markdown(path.read_text(encoding="utf8"))
    text = re.sub(r"`[^`]*`", "", "\n".join(prose))  # no links inside inline code
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def broken_links(path: Path) -> List[str]:
    """The internal links of a file that do not resolve, with why."""
    broken = []
    for target in internal_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file or folder")
        elif not str(linked).startswith(str(ROOT)):
            broken.append(f"{target}: outside the repository")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {linked.name}")
    return broken


def named_paths(path: Path) -> List[str]:
    """The repository paths a README names (anywhere, code included) that
    lie in a source folder and do not exist. A path is tried from the
    README's folder and from the repository root and project/ (commands
    are run from either); run outputs (corpus/, training/, ...) are not
    in a source folder and are not checked."""
    text = URL.sub("", path.read_text(encoding="utf8"))
    bases = [path.parent, ROOT, ROOT / "project"]
    missing = []
    for name in sorted(set(PATH.findall(text))):
        if "." not in name.rsplit("/", 1)[-1] and name != ".ci/run":
            continue  # a folder, a model folder or a label, not a file
        checked = [
            (base / name).resolve() for base in bases
            if (base / name).resolve().parent in SOURCE_DIRS
        ]
        if checked and not any(p.exists() for p in checked):
            missing.append(name)
    return missing


def project_commands() -> Set[str]:
    """The command and workflow names of project/project.yml."""
    project = srsly.read_yaml(ROOT / "project" / "project.yml")
    return {c["name"] for c in project["commands"]} | set(project["workflows"])


def test_github_slug():
    assert github_slug("Single-answer extraction (`globalpointer_extractor`)") == (
        "single-answer-extraction-globalpointer_extractor"
    )
    assert github_slug("Benchmarks: against spaCy's `ner` and `spancat`") == (
        "benchmarks-against-spacys-ner-and-spancat"
    )
    assert github_slug("⏯ Commands") == "-commands"
    assert github_slug("Which loss helped (CMRC 2018, 3 seeds)") == (
        "which-loss-helped-cmrc-2018-3-seeds"
    )


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_internal_links_resolve(readme):
    assert internal_links(readme)  # the parser finds links at all
    assert broken_links(readme) == []


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_exist(readme):
    assert named_paths(readme) == []


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_project_commands_exist(readme):
    text = readme.read_text(encoding="utf8")
    named = set(re.findall(r"spacy project run ([\w-]+)", text))
    assert named, "no `spacy project run` found: has the README changed its form?"
    assert sorted(named - project_commands()) == []


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_modules_and_commands_exist(readme):
    text = readme.read_text(encoding="utf8")
    modules = set(re.findall(r"python3? -m ([\w.]+)", text))
    assert sorted(m for m in modules if importlib.util.find_spec(m) is None) == []
    from spacy.cli._util import app as spacy_app
    from spacy_globalpointer.__main__ import app

    for module, cli in (("spacy_globalpointer", app), ("spacy", spacy_app)):
        for command in set(re.findall(rf"python -m {module} ([a-z][\w-]*)", text)):
            result = CliRunner().invoke(cli, [command, "--help"])
            assert result.exit_code == 0, f"python -m {module} {command}: {result.output}"


def test_named_configs_are_shipped():
    text = README.read_text(encoding="utf8")
    named = set(re.findall(r"(?<![\w/])configs/([\w.-]+\.cfg)", text))
    shipped = {p.name for p in (ROOT / "configs").glob("*.cfg")}
    # The README names every shipped config, and only shipped ones.
    assert named == shipped


def python_blocks(path: Path) -> int:
    """The number of ```python blocks of a Markdown file."""
    return sum(
        1 for line in path.read_text(encoding="utf8").splitlines()
        if re.match(r"^ {0,3}```\s*(python|py|python3)\b", line)
    )


def test_readme_python_blocks_run():
    """Every Python block of README.md runs, none skipped (`notest`)."""
    if importlib.util.find_spec("pytest_markdown_docs") is None:
        if os.environ.get("CI"):
            pytest.fail("pytest-markdown-docs is missing: it is in the `test` extra")
        pytest.skip("needs pytest-markdown-docs (pip install '.[test]')")
    n_blocks = python_blocks(README)
    assert n_blocks >= 3
    command = [
        sys.executable, "-m", "pytest", "--markdown-docs", "-p", "tests.readme_fixtures",
        "-p", "no:cacheprovider", "-q", "-o", "addopts=", str(README),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"{n_blocks} passed" in output and "skipped" not in output, output


def settings_table(heading: str) -> Dict[str, str]:
    """{setting: default as written} of the first `| setting | default |`
    table after a README heading."""
    prose, _ = split_markdown(README.read_text(encoding="utf8"))
    start = prose.index(heading)
    rows: Dict[str, str] = {}
    for line in prose[start + 1:]:
        if rows and not line.startswith("|"):
            break
        match = re.match(r"^\| `([\w]+)` \| `([^`]*)`", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


@pytest.mark.parametrize(
    "factory, heading",
    [
        ("globalpointer_ner", "## Settings"),
        ("globalpointer_extractor", "## Single-answer extraction (`globalpointer_extractor`)"),
    ],
)
def test_settings_tables_match_the_factories(factory, heading):
    """Each factory's settings table names every setting, and the defaults it
    writes (JSON values, registered names) are the factory's."""
    import spacy
    from spacy.language import Language

    spacy.blank("en")  # registers the entry points
    defaults = Language.get_factory_meta(factory).default_config
    table = settings_table(heading)
    assert sorted(table) == sorted(defaults)
    for name, written in table.items():
        default = defaults[name]
        if isinstance(default, dict) and any(key.startswith("@") for key in default):
            registered = next(v for k, v in default.items() if k.startswith("@"))
            assert written == registered, name
        elif written.startswith("spacy-globalpointer."):
            pytest.fail(f"{name}: the README names {written}, the default is {default!r}")
        else:
            assert srsly.json_loads(written) == default, name

"""What the project's scripts share: the project's paths, one thread per
process, measured subprocesses and peak RSS, the records of a run (versions,
git, machine), results files (JSON through srsly), the exact-span scorer,
docs re-made from their words, interleaved timing, and Markdown tables.

Nothing here imports numpy, spaCy or torch at module level, so a script can
import it first and call `set_thread_env()` before they are loaded.
"""
from __future__ import annotations

import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

SCRIPTS = Path(__file__).resolve().parent
PROJECT = SCRIPTS.parent  # the cwd of every project command
ROOT = PROJECT.parent  # the repository
SPANS_KEY = "sc"

# ---------------------------------------------------------------------------
# One thread per process

BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
THREAD_ENV = {**{var: "1" for var in BLAS_THREAD_VARS}, "TORCH_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def set_thread_env(threads: int = 1, force: bool = False, env: Optional[dict] = None) -> dict:
    """Set the BLAS/OpenMP thread variables of `env` (default: this process'
    environment; call it before numpy is imported for it to take effect). Kept
    where already set unless `force`. RETURNS the environment."""
    env = os.environ if env is None else env
    for var in BLAS_THREAD_VARS:
        if force:
            env[var] = str(threads)
        else:
            env.setdefault(var, str(threads))
    return env


def torch_one_thread() -> None:
    """One torch thread in this process, if torch is installed."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def one_thread() -> None:
    """Use one thread for BLAS and (if installed) torch in this process. Call
    it before numpy is imported for the BLAS part to take effect."""
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)
    torch_one_thread()


def thread_env() -> dict:
    """This process' environment with THREAD_ENV, for a subprocess."""
    env = dict(os.environ)
    env.update(THREAD_ENV)
    return env


# ---------------------------------------------------------------------------
# Memory and measured subprocesses


def peak_rss_mib() -> float:
    """Peak RSS of this process so far, in MiB (Linux reports ru_maxrss in
    KiB, macOS in bytes)."""
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def run_measured(cmd: List[str], log_path: Path) -> dict:
    """Run cmd (cwd project/, one thread) with stdout+stderr to log_path: rc,
    wall seconds, peak RSS (MiB)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log_path.open("w", encoding="utf8") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=PROJECT, env=thread_env())
        _, status, rusage = os.wait4(proc.pid, 0)
    return {"rc": os.waitstatus_to_exitcode(status), "wall_s": time.perf_counter() - start,
            "peak_rss_mib": rusage.ru_maxrss / 1024.0}


def script_cmd(script: str, *args: str) -> List[str]:
    """The command that runs project script `script` (cwd project/)."""
    return [sys.executable, "-m", f"scripts.{script}", *args]


def shown_cmd(cmd: Sequence[str]) -> str:
    """A command as recorded: `python` for this interpreter."""
    cmd = list(cmd)
    if cmd and cmd[0] == sys.executable:
        cmd[0] = "python"
    return shlex.join(cmd)


# ---------------------------------------------------------------------------
# What a run records


def rel(p: Path) -> str:
    """Path relative to project/ (the cwd of every command) when inside the repo."""
    p = Path(p).resolve()
    if p == ROOT or ROOT in p.parents:
        return os.path.relpath(p, PROJECT)
    return str(p)


def versions(packages: Sequence[str] = ("spacy", "thinc", "numpy", "spacy-globalpointer"),
             python: bool = True) -> Dict[str, Optional[str]]:
    """Python's and the packages' versions (None for one not installed)."""
    from importlib.metadata import version

    out: Dict[str, Optional[str]] = {"python": platform.python_version()} if python else {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except Exception:  # pragma: no cover
            out[pkg] = None
    return out


def git() -> dict:
    """The commit and the package files that differ from it (editable installs)."""
    def q(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip("\n")
        except OSError:
            return ""
    return {"head": q("rev-parse", "HEAD").strip(),
            "dirty": [line[3:] for line in q("status", "--porcelain", "--", "spacy_globalpointer").splitlines()]}


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "threads": "1 per process (OMP/OPENBLAS/MKL/torch)", "gpu": "none"}


# ---------------------------------------------------------------------------
# Results files
#
# Every results file is read and written here, with the standard library's
# json and not srsly: srsly's ujson reads 4,255 of the floats in the committed
# benchmarks/*.json a little off (relative error up to 2e-12), writes floats
# with 10 significant digits (1e-20 becomes 0.0) and drops the space after
# ':', so a rewritten file would churn and its figures change.


def read_json(path: Path, default=None):
    """The JSON file at path, or `default` when there is none (if given)."""
    path = Path(path)
    if default is not None and not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf8"))


def write_json(path: Path, data, indent: int = 2, ensure_ascii: bool = True, newline: bool = False) -> None:
    """Write data as JSON, indented like the committed results files (a
    final newline if `newline`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=indent, ensure_ascii=ensure_ascii)
    path.write_text(text + ("\n" if newline else ""), encoding="utf8")


def read_jsonl(path: Path) -> List:
    """The records of a JSON Lines file (blank lines skipped)."""
    with Path(path).open(encoding="utf8") as file:
        return [json.loads(line) for line in file if line.strip()]


def write_jsonl(path: Path, records: Iterable) -> None:
    """Write records as JSON Lines, non-ASCII characters as they are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def update_json(path: Path, update: Callable[[dict], None], indent: int = 2) -> dict:
    """Read path (an empty dict if there is none), let `update` change it in
    place, write it back. Re-read every time: another process may have written
    to it in the meantime. RETURNS the new contents."""
    data = read_json(path, default={})
    update(data)
    write_json(path, data, indent=indent)
    return data


# ---------------------------------------------------------------------------
# Exact-span scoring


def span_tuples(spans) -> Set[Tuple[int, int, str]]:
    """(start_char, end_char, label) of each span."""
    return {(s.start_char, s.end_char, s.label_) for s in spans}


def prf_dict(score) -> Dict[str, float]:
    """P, R, F and support (gold count) of a spacy.scorer.PRFScore."""
    return {"p": score.precision, "r": score.recall, "f": score.fscore, "support": score.tp + score.fn}


def score_spans(pairs: Iterable[Tuple[set, set]], per_type: bool = False) -> dict:
    """Exact-match P/R/F of predicted against gold spans, with spaCy's
    PRFScore: one (predicted, gold) pair of sets a doc, their items tuples
    whose last element is the label (e.g. `span_tuples`). RETURNS {"p", "r",
    "f", "support"}, and "per_type" (the same per label, sorted) if asked."""
    from spacy.scorer import PRFScore

    total = PRFScore()
    by_type: Dict[str, PRFScore] = defaultdict(PRFScore)
    for got, want in pairs:
        total.score_set(set(got), set(want))
        if per_type:
            for label in {x[-1] for x in set(got) | set(want)}:
                by_type[label].score_set({x for x in got if x[-1] == label}, {x for x in want if x[-1] == label})
    result = prf_dict(total)
    if per_type:
        result["per_type"] = {label: prf_dict(by_type[label]) for label in sorted(by_type)}
    return result


# ---------------------------------------------------------------------------
# Timing


def fresh_docs(vocab, docs: Sequence) -> List:
    """Unannotated copies of `docs`, with the same words and spaces."""
    from spacy.tokens import Doc

    return [Doc(vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in docs]


def timed_pipe(nlp, docs: Sequence, batch_size: int, disable: Sequence[str] = ()) -> float:
    """Seconds `nlp.pipe` takes over fresh copies of `docs`."""
    fresh = fresh_docs(nlp.vocab, docs)
    with nlp.select_pipes(disable=list(disable)):
        start = time.perf_counter()
        for _ in nlp.pipe(fresh, batch_size=batch_size):
            pass
        return time.perf_counter() - start


def interleaved(measures: Dict[str, Callable[[], float]], rounds: int, log: bool = True) -> Dict[str, float]:
    """Run every measure once per round, round-robin, after one warm-up of
    each, and return the median of each: a load change on a shared machine
    then hits all of them alike."""
    for measure in measures.values():
        measure()
    times: Dict[str, List[float]] = {name: [] for name in measures}
    for r in range(rounds):
        for name, measure in measures.items():
            times[name].append(measure())
        if log:
            print(f"round {r + 1}/{rounds} done", flush=True)
    return {name: statistics.median(values) for name, values in times.items()}


# ---------------------------------------------------------------------------
# Figures and Markdown


def seeds_phrase(n: int) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} seed{'' if n == 1 else 's'}"


def mean_sd(values: List[float]):
    """Mean and sample standard deviation (0.0 for one value); (None, None) for none."""
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_mean_sd(values: List[float], nd: int = 1, range_sep: Optional[str] = None, scale: float = 1.0) -> str:
    """'mean ± sd' of the values times `scale`, with ' (min<range_sep>max)' if
    range_sep is given; the value alone for one value, '-' for none."""
    mean, sd = mean_sd(values)
    if mean is None:
        return "-"
    mean, sd = scale * mean, scale * sd
    if len(values) == 1:
        return f"{mean:.{nd}f}"
    low, high = scale * min(values), scale * max(values)
    spread = f" ({low:.{nd}f}{range_sep}{high:.{nd}f})" if range_sep is not None else ""
    return f"{mean:.{nd}f} ± {sd:.{nd}f}{spread}"


def md_table(rows: Iterable[Sequence[object]], header: Sequence[str], aligns: Sequence[str],
             tight_empty: bool = False) -> str:
    """A Markdown table rendered by wasabi's MarkdownRenderer (aligns: one
    'l', 'r' or 'c' a column), with the compact divider row of the committed
    tables (`|---|---:|`); empty cells as `| |` if `tight_empty` (wasabi
    writes `|  |`)."""
    from wasabi import MarkdownRenderer

    text = MarkdownRenderer().table([[str(cell) for cell in row] for row in rows], list(header), list(aligns))
    head, divider, *body = text.split("\n")
    divider = "|" + "".join(cell.strip() + "|" for cell in divider.strip("|").split("|"))
    body = [re.sub(r"\|  (?=\|)", "| ", line) if tight_empty else line for line in body if line]
    return "\n".join([head, divider, *body])

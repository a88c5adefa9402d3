"""Which files are train, dev and test in a corpus folder (zips included),
and the seeded splits that derive the missing ones (or split a corpus of
one file per document by document)."""
from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .records import SPLITS, CorpusFormatError

_SPLIT_RE = re.compile(r"(?<![a-z])(train|dev|test)(?![a-z])")
_SKIP_SUFFIXES = (".md", ".txt", ".py", ".zip", ".gitattributes", ".gitignore")


def _split_of(name: str) -> Optional[str]:
    found = set(_SPLIT_RE.findall(name.lower()))
    return found.pop() if len(found) == 1 else None


def find_split_files(
    input_dir: Path, suffix: Optional[str] = None
) -> Dict[str, Tuple[str, Optional[bytes]]]:
    """Find the train/dev/test files in a corpus folder.

    A file belongs to a split when its name contains `train`, `dev` or `test`
    as a word (msra_train_bio, example.dev, train.char.bmes, CMeEE-V2_dev.json).
    If a split has no plain file, the members of any .zip in the folder are
    searched too (MSRA ships as MSRA.zip). RETURNS split -> (display path,
    bytes or None); bytes is None for a plain file, which is read later.
    """
    if not input_dir.is_dir():
        raise CorpusFormatError(str(input_dir), "", "input folder not found")
    found: Dict[str, List[Tuple[str, Optional[bytes]]]] = {}
    for path in sorted(input_dir.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() in _SKIP_SUFFIXES:
            continue
        if suffix is not None and path.suffix.lower() != suffix:
            continue
        split = _split_of(path.name)
        if split:
            found.setdefault(split, []).append((str(path), None))
    for zpath in sorted(input_dir.glob("*.zip")):
        try:
            with zipfile.ZipFile(zpath) as zf:
                for member in zf.namelist():
                    name = member.rsplit("/", 1)[-1]
                    if not name or name.startswith(".") or member.startswith("__MACOSX"):
                        continue
                    if suffix is not None and not name.lower().endswith(suffix):
                        continue
                    split = _split_of(name)
                    if split and split not in found:
                        found.setdefault("zip:" + split, []).append(
                            (f"{zpath}:{member}", zf.read(member))
                        )
        except zipfile.BadZipFile:
            raise CorpusFormatError(str(zpath), "", "not a valid zip file")
    result: Dict[str, Tuple[str, Optional[bytes]]] = {}
    for key, files in found.items():
        split = key.replace("zip:", "")
        if split in result:
            continue
        if len(files) > 1:
            names = ", ".join(f for f, _ in files)
            raise CorpusFormatError(
                str(input_dir), "", f"more than one {split} file: {names}"
            )
        result[split] = files[0]
    return result

TRAIN_DEV_TEST = (0.8, 0.1, 0.1)  # a single labeled split
TRAIN_DEV_FROM_TEST = 0.8  # dev + test labeled, no train: official test -> train/dev
DEV_FROM_TRAIN = 0.05  # train + test labeled, no dev
# train + dev labeled, test unlabeled (CLUENER): the official dev becomes the
# held-out test, and this share of train (seeded) the dev set for model selection.
DEV_FROM_TRAIN_WHEN_TEST_UNLABELED = 0.1


def _seeded_parts(n: int, fractions: Sequence[float], seed: int) -> List[List[int]]:
    """Shuffle range(n) with `seed` and cut it by `fractions` (the last part
    gets the rest; every part gets at least one item when n allows, so a tiny
    corpus still has a dev set). Each part is sorted again, so it keeps the
    file order."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    parts, start = [], 0
    for frac in fractions[:-1]:
        size = int(round(n * frac))
        if n >= len(fractions):
            size = max(size, 1)
        parts.append(sorted(idx[start : start + size]))
        start += size
    parts.append(sorted(idx[start:]))
    return parts


def split_documents(input_dir: Path, pattern: str, seed: int = 0) -> Tuple[Dict[str, List[Path]], List[str]]:
    """The document files of a corpus without a split of its own (LitBank),
    split by document: the files matching `pattern` under `input_dir` (or, if
    none, `input_dir/*<suffix of pattern>`), sorted by name, shuffled with
    `random.Random(seed)` and cut 80/10/10 into train/dev/test, each part in
    name order. With seed 0 this is the split LitBank's PROVENANCE.md proposes.
    RETURNS split -> files, and notes naming the held-out documents."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise CorpusFormatError(str(input_dir), "", "input folder not found")
    files = sorted(p for p in input_dir.glob(pattern) if p.is_file())
    if not files:
        files = sorted(p for p in input_dir.glob("*" + Path(pattern).suffix) if p.is_file())
    if not files:
        raise CorpusFormatError(str(input_dir), "", f"no document files ({pattern})")
    parts = _seeded_parts(len(files), TRAIN_DEV_TEST, seed)
    out = {s: [files[i] for i in part] for s, part in zip(SPLITS, parts)}
    pct = "/".join(f"{f:.0%}".rstrip("%") for f in TRAIN_DEV_TEST)
    notes = [f"{len(files)} documents split by document {pct} (seed {seed}) into train/dev/test"]
    notes += [f"{s} documents: {', '.join(p.stem for p in out[s])}" for s in ("dev", "test")]
    return out, notes


def make_splits(labeled: Dict[str, list], seed: int = 0) -> Tuple[Dict[str, list], List[str]]:
    """Build train/dev/test from the labeled official splits that exist.

    - train, dev, test: used as they are.
    - train, dev (test unlabeled, CLUENER): the official dev is test, and a
      seeded 10% of train is dev, so that models are chosen on data that is
      not the reported test.
    - train, test (no dev, MSRA): a seeded 5% of train becomes dev.
    - dev, test (no train, People's Daily): official test is split 80/20
      (seeded) into train/dev; official dev becomes test.
    - one split only (CMeEE: dev): seeded 80/10/10 into train/dev/test.
    RETURNS the splits and a list of notes describing what was done.
    """
    have = tuple(s for s in SPLITS if labeled.get(s))
    out: Dict[str, list] = {}
    notes: List[str] = []

    def pick(items, idx):
        return [items[i] for i in idx]

    if have == SPLITS:
        out = {s: labeled[s] for s in SPLITS}
        notes.append("official train/dev/test used as they are")
    elif have == ("train", "dev"):
        share = DEV_FROM_TRAIN_WHEN_TEST_UNLABELED
        dev_idx, train_idx = _seeded_parts(len(labeled["train"]), (share, 1 - share), seed)
        out = {
            "train": pick(labeled["train"], train_idx),
            "dev": pick(labeled["train"], dev_idx),
            "test": labeled["dev"],
        }
        notes.append(
            f"no labeled test: the official dev set is test; a seeded {share:.0%} of official "
            f"train (seed {seed}) is dev"
        )
    elif have == ("train", "test"):
        dev_idx, train_idx = _seeded_parts(len(labeled["train"]), (DEV_FROM_TRAIN, 1 - DEV_FROM_TRAIN), seed)
        out = {
            "train": pick(labeled["train"], train_idx),
            "dev": pick(labeled["train"], dev_idx),
            "test": labeled["test"],
        }
        notes.append(f"no dev: a seeded {DEV_FROM_TRAIN:.0%} of official train (seed {seed}) is dev")
    elif have == ("dev", "test"):
        tr, dv = _seeded_parts(len(labeled["test"]), (TRAIN_DEV_FROM_TEST, 1 - TRAIN_DEV_FROM_TEST), seed)
        out = {
            "train": pick(labeled["test"], tr),
            "dev": pick(labeled["test"], dv),
            "test": labeled["dev"],
        }
        notes.append(
            f"no train: official test split {TRAIN_DEV_FROM_TEST:.0%}/{1 - TRAIN_DEV_FROM_TEST:.0%} "
            f"(seed {seed}) into train/dev; official dev is test"
        )
    elif len(have) == 1:
        only = labeled[have[0]]
        parts = _seeded_parts(len(only), TRAIN_DEV_TEST, seed)
        out = {s: pick(only, p) for s, p in zip(SPLITS, parts)}
        pct = "/".join(f"{f:.0%}".rstrip("%") for f in TRAIN_DEV_TEST)
        notes.append(f"only {have[0]} is labeled: split {pct} (seed {seed}) into train/dev/test")
    else:
        raise ValueError("no labeled split found")
    return out, notes

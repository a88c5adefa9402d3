"""Per-type thresholds tuned on a dev set: `python -m spacy_globalpointer tune-thresholds`.

The pipe is run once over the dev docs with every threshold lowered to a
floor, so that each span above the floor is a candidate with its
probability. Then, label by label (coordinate ascent, a few rounds), the
threshold that maximises the micro F of the chosen output is picked from a
grid, the others held fixed:

- `spans`: `doc.spans[spans_key]`, scored like `spans_<key>_f`. A label's
  threshold only changes that label's spans, so its counts are precomputed
  per grid value.
- `ents`: `doc.ents`, scored like `ents_f`. Labels compete in the overlap
  resolution, so the docs that hold candidates of the label are resolved
  again for every grid value.

"Scored like" holds where the gold's tokens are not the pipeline's too (a
corpus `spacy train` re-tokenises): the gold stays on the reference tokens,
and each prediction is moved onto them the way spaCy's scorer moves it
(`ReferencePlace`), so the F maximised is the F `spacy train` and
`spacy evaluate` report.

Labels with fewer than `min_support` gold spans in the dev set keep the
default threshold: a threshold fitted to a handful of spans is noise.
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.attrs import ENT_IOB
from spacy.language import Language
from spacy.training import Corpus, Example

from ..errors import Errors
from ..spans import Candidates
from .decoding import resolve_ents
from .gold import GoldPlace
from .pipe import GlobalPointerNER, globalpointer_pipe_names
from .scorer import has_span_annotation, spans_in_ents
from .thresholds import ThresholdTable

TARGETS = ("spans", "ents")
DEFAULT_GRID = tuple(round(x, 2) for x in numpy.arange(0.05, 0.96, 0.05))
# Candidates below this probability are never kept by any grid value.
CANDIDATE_FLOOR = 0.01
MAX_ROUNDS = 4


@dataclass
class DevSet:
    """What tuning needs of the dev docs: the candidates above the floor, the
    gold, and the entities other components put on the docs first.

    candidates (Candidates): every span above the floor, all docs.
    gold (List[set]): per doc, the gold (start, end, label index) set.
    existing (List[List[Tuple[int, int, int]]]): per doc, (start, end, label
        index or -1) of the entities already on the doc before this pipe.
    lengths (List[int]): tokens per doc.
    labels (Tuple[str, ...]): the pipe's labels (label indices refer to them).
    places (List[Optional[ReferencePlace]]): per doc, where a predicted span
        is scored on the reference tokens; None where the tokens are the same
        (the default: every doc).
    by_doc (List[Candidates]): the candidates split per doc (derived).
    correct (numpy.ndarray): whether each candidate is a gold span (derived).
    scored (numpy.ndarray): whether each candidate counts at all: spaCy's
        scorer leaves out a prediction it cannot place on the reference
        tokens (derived).
    """

    candidates: Candidates
    gold: List[set]
    existing: List[List[Tuple[int, int, int]]]
    lengths: List[int]
    labels: Tuple[str, ...]
    places: List[Optional["ReferencePlace"]] = field(default_factory=list)
    by_doc: List[Candidates] = field(default_factory=list)
    correct: numpy.ndarray = field(default_factory=lambda: numpy.zeros((0,), dtype=bool))
    scored: numpy.ndarray = field(default_factory=lambda: numpy.zeros((0,), dtype=bool))

    def __post_init__(self) -> None:
        c = self.candidates
        if not self.places:
            self.places = [None] * len(self.gold)
        keys = [self.gold_key(int(d), int(s), int(e), int(lab)) for d, s, e, lab in zip(c.doc, c.start, c.end, c.label)]
        self.scored = numpy.asarray([key is not None for key in keys], dtype=bool)
        self.correct = numpy.asarray(
            [key is not None and key in self.gold[int(d)] for d, key in zip(c.doc, keys)], dtype=bool
        )
        order = numpy.argsort(c.doc, kind="stable")
        ordered = c.select(order)
        bounds = numpy.searchsorted(ordered.doc, numpy.arange(len(self.gold) + 1))
        self.by_doc = [ordered.select(slice(bounds[i], bounds[i + 1])) for i in range(len(self.gold))]

    def gold_key(self, doc: int, start: int, end: int, label: int) -> Optional[Tuple[int, int, int]]:
        """The predicted span as (start, end, label) on the reference tokens,
        comparable with the gold; None if the scorer leaves it out."""
        place = self.places[doc]
        if place is None:
            return start, end, label
        found = place(start, end)
        return None if found is None else (found[0], found[1], label)

    def gold_counts(self) -> numpy.ndarray:
        """(n_labels,) gold spans per label."""
        counts = numpy.zeros(len(self.labels), dtype="int64")
        for spans in self.gold:
            for _, _, label in spans:
                counts[label] += 1
        return counts


@dataclass
class Counts:
    """True positives, false positives and gold counts per label."""

    tp: numpy.ndarray
    fp: numpy.ndarray
    gold: numpy.ndarray

    def prf(self, label: Optional[int] = None) -> Tuple[float, float, float]:
        """Precision, recall, F of one label, or micro-averaged over all."""
        sel = slice(None) if label is None else label
        tp, fp, gold = (float(numpy.sum(x[sel])) for x in (self.tp, self.fp, self.gold))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / gold if gold else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def objective(self) -> Tuple[float, int]:
        """(micro F, -false positives): what tuning maximises; between equal
        F, fewer wrong spans win."""
        return round(self.prf()[2], 12), -int(self.fp.sum())


def collect_dev_set(nlp: Language, pipe_name: str, examples: Sequence[Example], target: str) -> DevSet:
    """Run the pipeline up to (not including) the pipe, then the pipe's own
    `predict` with every threshold at CANDIDATE_FLOOR.

    nlp (Language): the trained pipeline.
    pipe_name (str): the `globalpointer_ner` component to tune.
    examples (Sequence[Example]): the dev examples.
    target (str): "spans" or "ents": which gold to read.
    RETURNS (DevSet): the candidates and gold.
    """
    return collect_dev_sets(nlp, pipe_name, examples, (target,))[target]


def collect_dev_sets(
    nlp: Language, pipe_name: str, examples: Sequence[Example], targets: Sequence[str]
) -> Dict[str, DevSet]:
    """`collect_dev_set` for several targets with one pass over the docs: the
    candidates are the same, only the gold read differs.

    RETURNS (Dict[str, DevSet]): the dev set of each target.
    """
    pipe: GlobalPointerNER = nlp.get_pipe(pipe_name)
    later = nlp.pipe_names[nlp.pipe_names.index(pipe_name):]
    docs = [eg.predicted for eg in examples]
    with nlp.select_pipes(disable=later):
        docs = list(nlp.pipe(docs, batch_size=nlp.batch_size))
    label_index = {label: i for i, label in enumerate(pipe.labels)}
    saved = dict(pipe.cfg)
    pipe.cfg.update(threshold=CANDIDATE_FLOOR, thresholds={}, ents_threshold=None, ents_thresholds={})
    try:
        parts = []
        for start in range(0, len(docs), nlp.batch_size):
            found = pipe.predict(docs[start : start + nlp.batch_size])
            found.doc = found.doc + start
            parts.append(found)
    finally:
        pipe.cfg.clear()
        pipe.cfg.update(saved)
    candidates = Candidates.concat(parts)
    existing = [[(e.start, e.end, label_index.get(e.label_, -1)) for e in doc.ents] for doc in docs]
    dev_sets = {}
    for target in targets:
        gold, places = [], []
        for eg in examples:
            spans, place = scored_gold(eg, target, pipe.key, pipe.cfg["annotate_ents"], pipe.name)
            gold.append({(s.start, s.end, label_index[s.label_]) for s in spans if s.label_ in label_index})
            places.append(place)
        dev_sets[target] = DevSet(candidates, gold, existing, [len(d) for d in docs], pipe.labels, places)
    return dev_sets


def scored_gold(
    eg: Example, target: str, spans_key: str, annotate_ents: bool, name: str
) -> Tuple[List, Optional["ReferencePlace"]]:
    """The gold spans spaCy's scorer reads for `target` (on the reference
    tokens), and where it places predictions on them (None: the same tokens).

    The `spans` target reads `doc.spans[spans_key]`, or with `annotate_ents`
    and no such group the reference's `doc.ents`, like the pipe's scorer; a
    reference doc with neither is skipped, as the scorer skips it. The `ents`
    target reads `doc.ents` and skips docs without entity annotation.
    """
    ref = eg.reference
    if target == "ents":
        annotated = ref.has_annotation("ENT_IOB")
        use_ents = True
    else:
        annotated = has_span_annotation(ref, spans_key, annotate_ents)
        use_ents = spans_in_ents(ref, spans_key, annotate_ents)
    if not annotated:
        return [], ReferencePlace(eg, target, skip=True)
    spans = GoldPlace(name, spans_key, use_ents=use_ents).reference_spans(eg)
    place = ReferencePlace(eg, target)
    return spans, (None if place.identity else place)


class ReferencePlace:
    """Where spaCy's scorer puts a predicted span on the reference tokens,
    for one example (`Example.alignment.x2y`, from the first to the last
    reference token the span's tokens align with):

    - `ents` (`spacy.scorer.get_ner_prf`): the span widened to whole
      reference tokens; left out if it aligns with none, or if one of them
      has no entity annotation (missing, not "O");
    - `spans` (`Scorer.score_spans`): the same, but left out unless the
      reference tokens hold exactly the span's text (spaces and case aside).

    skip (bool): the scorer skips the doc (no annotation): every prediction
        is left out.
    """

    def __init__(self, eg: Example, target: str, skip: bool = False):
        self.target = target
        self.skip = skip
        self.identity = False
        if skip:  # nothing is placed: no alignment needed
            return
        self.predicted, self.reference = eg.predicted, eg.reference
        x2y = eg.alignment.x2y
        self.data = numpy.asarray(x2y.data, dtype="int64")
        lengths = numpy.asarray(x2y.lengths, dtype="int64")
        self.offsets = numpy.concatenate([[0], numpy.cumsum(lengths)])
        self.missing = None
        if target == "ents":
            iob = eg.reference.to_array(ENT_IOB).reshape(-1)
            if (iob == 0).any():
                self.missing = iob == 0
        n = len(eg.reference)
        self.identity = (
            self.missing is None and len(eg.predicted) == n
            and bool((lengths == 1).all()) and bool((self.data == numpy.arange(n)).all())
        )

    def __call__(self, start: int, end: int) -> Optional[Tuple[int, int]]:
        if self.skip:
            return None
        indices = self.data[self.offsets[start] : self.offsets[end]]
        if not indices.size:
            return None
        ref_start, ref_end = int(indices[0]), int(indices[-1]) + 1
        if self.target == "ents":
            if self.missing is not None and self.missing[ref_start:ref_end].any():
                return None
        elif _bare(self.reference[ref_start:ref_end].text) != _bare(self.predicted[start:end].text):
            return None
        return ref_start, ref_end


def _bare(text: str) -> str:
    """Text compared by `Scorer.score_spans` when it aligns a span."""
    return text.lower().strip().replace(" ", "")


def span_counts(dev: DevSet, thresholds: numpy.ndarray) -> Counts:
    """Counts of `doc.spans` output with the given per-label thresholds."""
    c = dev.candidates
    keep = c.score > thresholds[c.label]
    tp = numpy.zeros(len(dev.labels), dtype="int64")
    fp = numpy.zeros(len(dev.labels), dtype="int64")
    correct = dev.correct
    numpy.add.at(tp, c.label[keep & correct], 1)
    numpy.add.at(fp, c.label[keep & ~correct & dev.scored], 1)
    return Counts(tp, fp, dev.gold_counts())


def ent_counts_per_doc(dev: DevSet, doc: int, thresholds: numpy.ndarray, overwrite: bool) -> Counter:
    """(label, "tp"/"fp") counts of one doc's `doc.ents` with these thresholds,
    scored like spaCy's `ents_f` (existing entities count as predictions; a
    gold entity matches one prediction at most). Entities of labels the pipe
    does not have, on the docs or in the gold, are left out of the counts
    (`ents_f` counts them): the threshold moves them only through overlap
    resolution."""
    found = dev.by_doc[doc]
    found = found.select(found.score > thresholds[found.label])
    existing = dev.existing[doc]
    kept, picked = resolve_ents([(s, e) for s, e, _ in existing], found, dev.lengths[doc], overwrite)
    ents = [existing[i] for i in kept]
    ents += [(int(found.start[i]), int(found.end[i]), int(found.label[i])) for i in picked]
    counts: Counter = Counter()
    matched = set()
    for start, end, label in ents:
        key = dev.gold_key(doc, start, end, label) if label >= 0 else None
        if key is None:
            continue
        hit = key in dev.gold[doc] and key not in matched
        matched.add(key)
        counts[(label, "tp" if hit else "fp")] += 1
    return counts


def tune(
    dev: DevSet,
    start: numpy.ndarray,
    target: str,
    *,
    grid: Sequence[float] = DEFAULT_GRID,
    min_support: int = 20,
    overwrite_ents: bool = False,
) -> numpy.ndarray:
    """Per-label thresholds that maximise the micro F of `target` on `dev`.

    dev (DevSet): candidates and gold.
    start (numpy.ndarray): (n_labels,) the thresholds in force, the starting point.
    target (str): "spans" or "ents".
    grid (Sequence[float]): the values tried per label.
    min_support (int): labels with fewer gold spans keep their threshold.
    overwrite_ents (bool): the pipe's `overwrite_ents`, for the `ents` target.
    RETURNS (numpy.ndarray): (n_labels,) the tuned thresholds.
    """
    thresholds = numpy.array(start, dtype="float64")
    gold = dev.gold_counts()
    values = sorted(set(grid) | set(float(t) for t in thresholds))
    evaluate = _SpanObjective(dev) if target == "spans" else _EntObjective(dev, overwrite_ents)
    for _ in range(MAX_ROUNDS):
        changed = False
        for label in range(len(dev.labels)):
            if gold[label] < min_support:
                continue
            best_t, best = thresholds[label], evaluate(thresholds)
            for value in values:
                trial = thresholds.copy()
                trial[label] = value
                score = evaluate(trial, label)
                if score > best:
                    best_t, best = value, score
            if best_t != thresholds[label]:
                thresholds[label] = best_t
                evaluate.accept(thresholds, label)
                changed = True
        if not changed:
            break
    return thresholds


class _SpanObjective:
    """(micro F, -false positives) of `doc.spans` for the thresholds: between
    equal F, fewer wrong spans win, which lets coordinate ascent drop a label
    that only blocks another one."""

    def __init__(self, dev: DevSet):
        self.dev = dev

    def __call__(self, thresholds: numpy.ndarray, label: Optional[int] = None) -> Tuple[float, int]:
        return span_counts(self.dev, thresholds).objective()

    def accept(self, thresholds: numpy.ndarray, label: int) -> None:
        pass


class _EntObjective:
    """(micro F, -false positives) of `doc.ents`, re-resolving only the docs
    that hold candidates of the label whose threshold changes."""

    def __init__(self, dev: DevSet, overwrite: bool):
        self.dev = dev
        self.overwrite = overwrite
        self.gold = sum(len(g) for g in dev.gold)
        self.docs_of_label: Dict[int, List[int]] = {}
        for i, found in enumerate(dev.by_doc):
            for label in set(found.label.tolist()):
                self.docs_of_label.setdefault(label, []).append(i)
        self.per_doc: List[Counter] = []
        self.total: Counter = Counter()

    def __call__(self, thresholds: numpy.ndarray, label: Optional[int] = None) -> Tuple[float, int]:
        if not self.per_doc:
            self.per_doc = [ent_counts_per_doc(self.dev, i, thresholds, self.overwrite) for i in range(len(self.dev.gold))]
            self.total = sum(self.per_doc, Counter())
        total = self.total
        if label is not None:
            total = Counter(total)
            for i in self.docs_of_label.get(label, []):
                total.subtract(self.per_doc[i])
                total.update(ent_counts_per_doc(self.dev, i, thresholds, self.overwrite))
        tp = sum(n for (_, kind), n in total.items() if kind == "tp")
        fp = sum(n for (_, kind), n in total.items() if kind == "fp")
        f = 2 * tp / (2 * tp + fp + (self.gold - tp)) if self.gold + tp + fp else 0.0
        return round(f, 12), -fp

    def accept(self, thresholds: numpy.ndarray, label: int) -> None:
        for i in self.docs_of_label.get(label, []):
            new = ent_counts_per_doc(self.dev, i, thresholds, self.overwrite)
            self.total.subtract(self.per_doc[i])
            self.total.update(new)
            self.per_doc[i] = new


def ent_counts(dev: DevSet, thresholds: numpy.ndarray, overwrite: bool) -> Counts:
    """Counts of the `doc.ents` output with the given per-label thresholds."""
    tp = numpy.zeros(len(dev.labels), dtype="int64")
    fp = numpy.zeros(len(dev.labels), dtype="int64")
    for i in range(len(dev.gold)):
        for (label, kind), n in ent_counts_per_doc(dev, i, thresholds, overwrite).items():
            (tp if kind == "tp" else fp)[label] += n
    return Counts(tp, fp, dev.gold_counts())


def tune_thresholds(
    model: Path,
    data: Path,
    output: Path,
    *,
    pipe_name: Optional[str] = None,
    target: Optional[str] = None,
    grid: Sequence[float] = DEFAULT_GRID,
    min_support: int = 20,
    gold_preproc: bool = False,
) -> Tuple[Dict[str, float], List[List[str]]]:
    """Tune per-type thresholds of a saved pipeline on a DocBin and save the
    pipeline with them to `output`.

    model (Path): the trained pipeline (a directory or package name).
    data (Path): a .spacy file with the dev docs and their gold.
    output (Path): where the tuned pipeline is saved.
    pipe_name (Optional[str]): the component; default: the only `globalpointer_ner`.
    target (Optional[str]): "spans" or "ents"; default: "ents" when the pipe
        annotates entities, else "spans".
    grid, min_support: see `tune`.
    gold_preproc (bool): read the docs with their gold tokenization.
    RETURNS (Tuple[Dict[str, float], List[List[str]]]): the thresholds written
        and the rows of the before/after table.
    """
    import spacy

    nlp = spacy.load(model)
    pipe_name = pipe_name or _only_globalpointer(nlp)
    pipe: GlobalPointerNER = nlp.get_pipe(pipe_name)
    target = target or ("ents" if pipe.cfg["annotate_ents"] else "spans")
    if target not in TARGETS:
        raise ValueError(Errors.GP016.format(targets=list(TARGETS), value=target))
    if target == "ents" and not pipe.cfg["annotate_ents"]:
        raise ValueError(Errors.GP017.format(name=pipe_name))
    examples = list(Corpus(data, gold_preproc=gold_preproc)(nlp))
    dev = collect_dev_set(nlp, pipe_name, examples, target)
    table: ThresholdTable = pipe.threshold_table
    before = table.ents if target == "ents" else table.spans
    after = tune(dev, before, target, grid=grid, min_support=min_support,
                 overwrite_ents=pipe.cfg["overwrite_ents"])
    setting = "ents_thresholds" if target == "ents" else "thresholds"
    tuned = {label: float(after[i]) for i, label in enumerate(pipe.labels)}
    pipe.cfg[setting] = tuned
    nlp.get_pipe_config(pipe_name)[setting] = dict(tuned)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    count = (lambda t: ent_counts(dev, t, pipe.cfg["overwrite_ents"])) if target == "ents" else (
        lambda t: span_counts(dev, t))
    rows = _table_rows(pipe.labels, before, after, count(before), count(after))
    return tuned, rows


def _table_rows(labels, before, after, c_before: Counts, c_after: Counts) -> List[List[str]]:
    """Rows: type, gold, threshold before -> after, P/R/F before, P/R/F after."""

    def fmt(prf):
        return "/".join(f"{100 * x:.1f}" for x in prf)

    rows = []
    for i, label in enumerate(labels):
        rows.append([label, str(int(c_before.gold[i])), f"{before[i]:.2f} -> {after[i]:.2f}",
                     fmt(c_before.prf(i)), fmt(c_after.prf(i))])
    rows.append(["(micro)", str(int(c_before.gold.sum())), "", fmt(c_before.prf()), fmt(c_after.prf())])
    return rows


def _only_globalpointer(nlp: Language) -> str:
    """The name of the pipeline's one `globalpointer_ner` component."""
    names = globalpointer_pipe_names(nlp)
    if len(names) != 1:
        raise ValueError(Errors.GP018.format(count=len(names), names=names))
    return names[0]

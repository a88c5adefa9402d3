"""The trainable `globalpointer_ner` pipe: nested and flat named-entity
recognition."""
import warnings
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

import numpy
from spacy.attrs import ENT_IOB, ENT_TYPE
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.vocab import Vocab

from ..base import DEFAULT_GP_MODEL, GlobalPointerPipe
from ..errors import Errors, Warnings, doc_preview
from ..models.types import GPModelT, SpanScores, is_real_number
from ..spans import Candidates
from .decoding import predict_windowed, resolve_ents, top_labels_per_span
from .gold import GoldPlace, GoldScan, scan_gold
from .loss import boundary_smoothed_targets, multilabel_categorical_crossentropy
from .scorer import default_score_weights, globalpointer_score, reported_scores
from .thresholds import ThresholdTable, check_threshold_settings, make_threshold_table

DEFAULT_SPANS_KEY = "sc"


@Language.factory(
    "globalpointer_ner",
    assigns=["doc.spans", "doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_GP_MODEL,
        "spans_key": DEFAULT_SPANS_KEY,
        "annotate_ents": False,
        "overwrite_ents": False,
        "threshold": 0.2,
        "thresholds": {},
        "ents_threshold": None,
        "ents_thresholds": {},
        "max_positive": None,
        "max_length": None,
        "boundary_smoothing": 0.0,
        "missing_spans_key": None,
        "incorrect_spans_key": None,
        "scorer": {"@scorers": "spacy-globalpointer.globalpointer_scorer.v1"},
    },
    # No static weights: which scores the pipe reports depends on its
    # `spans_key` and `annotate_ents`, so `initialize` adds the right ones to
    # `[training.score_weights]` (see GlobalPointerNER._fit_score_weights).
    default_score_weights={},
)
def make_globalpointer_ner(
    nlp: Language,
    name: str,
    model: GPModelT,
    spans_key: str,
    annotate_ents: bool,
    overwrite_ents: bool,
    threshold: float,
    thresholds: Dict[str, float],
    ents_threshold: Optional[float],
    ents_thresholds: Dict[str, float],
    max_positive: Optional[int],
    max_length: Optional[int],
    boundary_smoothing: float,
    missing_spans_key: Optional[str],
    incorrect_spans_key: Optional[str],
    scorer: Optional[Callable],
) -> "GlobalPointerNER":
    """Create a GlobalPointer named-entity recognizer.

    model (Model[List[Doc], SpanScores]): a registered GlobalPointer model,
        e.g. spacy-globalpointer.GlobalPointer.v1.
    spans_key (str): gold is read from and predictions written to
        `doc.spans[spans_key]`.
    annotate_ents (bool): learn from `doc.ents` and also write the predictions,
        resolved to non-overlapping spans by score, to `doc.ents`.
    overwrite_ents (bool): with `annotate_ents`, whether predictions replace
        entities already on the doc that they overlap. By default existing
        entities are kept and predictions fill the gaps, as spaCy's `ner` does.
    threshold (float): a span is written to `doc.spans` when its probability
        (sigmoid of its logit) exceeds this. The default, 0.2, was chosen on
        the dev splits of the benchmark corpora (see the README); 0.5 is the
        paper's "score > 0" rule. 0 keeps every scored span, 1 none.
    thresholds (Dict[str, float]): per-label thresholds that override
        `threshold`, e.g. tuned with `python -m spacy_globalpointer tune-thresholds`.
    ents_threshold (Optional[float]): with `annotate_ents`, the threshold of the
        candidates for `doc.ents`; null uses the `doc.spans` thresholds.
    ents_thresholds (Dict[str, float]): per-label overrides of `ents_threshold`.
    max_positive (Optional[int]): the most labels one span can get in
        `doc.spans` (the highest-scoring ones); null for no limit.
    max_length (Optional[int]): longest span in tokens to score; null scores
        spans up to twice the longest gold span seen at initialize.
    boundary_smoothing (float): in training, each gold span's target keeps
        1 - boundary_smoothing and its neighbours (start or end one token off)
        share the rest (Zhu & Li, 2022); 0 for hard targets.
    missing_spans_key (Optional[str]): partial annotation: the spans in
        `reference.spans[missing_spans_key]` mark regions left unannotated;
        spans touching them give no loss. (With `annotate_ents`, reference
        tokens whose entity annotation is missing are unknown too, as in
        spaCy's `ner`.) null: every span not in the gold is a negative.
    incorrect_spans_key (Optional[str]): the spans (with labels) in
        `reference.spans[incorrect_spans_key]` are known to be wrong and are
        learned as negatives, also inside unannotated regions, as in spaCy's
        `ner`.
    scorer (Optional[Callable]): the scoring method.
    """
    return GlobalPointerNER(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        annotate_ents=annotate_ents,
        overwrite_ents=overwrite_ents,
        threshold=threshold,
        thresholds=thresholds,
        ents_threshold=ents_threshold,
        ents_thresholds=ents_thresholds,
        max_positive=max_positive,
        max_length=max_length,
        boundary_smoothing=boundary_smoothing,
        missing_spans_key=missing_spans_key,
        incorrect_spans_key=incorrect_spans_key,
        scorer=scorer,
    )


class GlobalPointerNER(GlobalPointerPipe):
    """Recognize nested or flat entities by scoring every span with GlobalPointer.

    Every span whose probability exceeds `threshold` is written to
    `doc.spans[spans_key]` with its probability in `.attrs["scores"]`; with
    `annotate_ents`, the spans are also resolved to non-overlapping entities
    (highest score first) in `doc.ents`. No other span group is touched.

    DOCS: https://github.com/spacy-globalpointer/spacy-globalpointer#api
    """

    def __init__(
        self,
        vocab: Vocab,
        model: GPModelT,
        name: str = "globalpointer_ner",
        *,
        spans_key: str = DEFAULT_SPANS_KEY,
        annotate_ents: bool = False,
        overwrite_ents: bool = False,
        threshold: float = 0.2,
        thresholds: Optional[Dict[str, float]] = None,
        ents_threshold: Optional[float] = None,
        ents_thresholds: Optional[Dict[str, float]] = None,
        max_positive: Optional[int] = None,
        max_length: Optional[int] = None,
        boundary_smoothing: float = 0.0,
        missing_spans_key: Optional[str] = None,
        incorrect_spans_key: Optional[str] = None,
        scorer: Optional[Callable] = globalpointer_score,
    ) -> None:
        """Initialize the pipe. See `make_globalpointer_ner` for the settings."""
        # Labels whose gold spans were found skipped during `update` (warned once).
        self._warned_labels: Set[str] = set()
        cfg = {
            "spans_key": spans_key,
            "annotate_ents": annotate_ents,
            "overwrite_ents": overwrite_ents,
            "threshold": threshold,
            "thresholds": dict(thresholds or {}),
            "ents_threshold": ents_threshold,
            "ents_thresholds": dict(ents_thresholds or {}),
            "max_positive": max_positive,
            "max_length": max_length,
            "learned_max_length": None,
            "boundary_smoothing": boundary_smoothing,
            "missing_spans_key": missing_spans_key,
            "incorrect_spans_key": incorrect_spans_key,
        }
        super().__init__(vocab, model, name, cfg, scorer=scorer)

    def _check_settings(self) -> None:
        """Check `boundary_smoothing` (GP014), the partial-annotation keys
        (GP015) and the thresholds (GP001, GP009, GP010)."""
        cfg, name = self.cfg, self.name
        smoothing = cfg["boundary_smoothing"]
        if not is_real_number(smoothing) or not 0.0 <= smoothing < 1.0:
            raise ValueError(Errors.GP014.format(name=name, value=smoothing))
        cfg["boundary_smoothing"] = float(smoothing)
        for setting, what, example in (
            ("missing_spans_key", "the regions left unannotated", "missing"),
            ("incorrect_spans_key", "the spans known to be wrong", "incorrect_spans"),
        ):
            value = cfg[setting]
            if value is not None and (not isinstance(value, str) or not value or value == self.key):
                raise ValueError(
                    Errors.GP015.format(
                        name=name, setting=setting, value=value, spans_key=self.key,
                        what=what, example=example,
                    )
                )
        check_threshold_settings(name, cfg)

    # ------------------------------------------------------------------ prediction

    def predict(self, docs: Iterable[Doc]) -> Candidates:
        """Find the spans scoring above threshold. Has no side effects.

        docs (Iterable[Doc]): the docs to predict for.
        RETURNS (Candidates): doc index, start, end, label index and probability
            of every span above the lowest threshold of its label (for
            `doc.spans` or `doc.ents`); `set_annotations` applies each output's
            own thresholds.
        """
        docs = list(docs)
        self._require_initialized()
        table = self.threshold_table
        if not any(len(doc) for doc in docs):
            return Candidates.empty()
        tokvecs = self.model.get_ref("tok2vec").predict(docs)
        return predict_windowed(
            self._head,
            tokvecs,
            table.floor,
            self.max_length,
            **self._window_settings(),
        )

    @property
    def threshold_table(self) -> ThresholdTable:
        """The thresholds per label in force now, checked (the settings can be
        changed in `pipe.cfg` at run time, e.g. by `spacy find-threshold`)."""
        return make_threshold_table(self.name, self.cfg, self.labels)

    def set_annotations(self, docs: Iterable[Doc], candidates: Candidates) -> None:
        """Write the predicted spans to `doc.spans[spans_key]` (and `doc.ents`).

        docs (Iterable[Doc]): the docs, in the order given to `predict`.
        candidates (Candidates): the output of `predict`.
        """
        docs = list(docs)
        table = self.threshold_table
        labels = [self.vocab.strings.add(label) for label in self.labels]
        span_out = candidates.select(candidates.score > table.spans[candidates.label])
        if table.max_positive is not None:
            span_out = span_out.select(top_labels_per_span(span_out, table.max_positive))
        for doc, found in _per_doc(docs, span_out):
            spans = [
                Span(doc, int(s), int(e), label=labels[int(lab)])
                for s, e, lab in zip(found.start, found.end, found.label)
            ]
            group = SpanGroup(doc, name=self.key, spans=spans)
            group.attrs["scores"] = found.score
            doc.spans[self.key] = group
        if self.cfg["annotate_ents"]:
            ent_out = candidates.select(candidates.score > table.ents[candidates.label])
            for doc, found in _per_doc(docs, ent_out):
                self._set_ents(doc, found, labels)

    def _set_ents(self, doc: Doc, found: Candidates, labels: List[int]) -> None:
        """Resolve the candidate spans to non-overlapping entities by score,
        keeping or replacing the entities already on the doc. As in spaCy's
        `ner`, blocked tokens (`doc.set_ents(blocked=...)`) stay blocked and
        no entity covers them; the other tokens outside an entity become O."""
        existing = list(doc.ents)
        blocked = _blocked_tokens(doc)
        kept, picked = resolve_ents(
            [(e.start, e.end) for e in existing], found, len(doc), self.cfg["overwrite_ents"],
            blocked=blocked,
        )
        new_ents = [
            Span(doc, int(found.start[i]), int(found.end[i]), label=labels[int(found.label[i])])
            for i in picked
        ]
        ents = sorted([existing[i] for i in kept] + new_ents, key=lambda span: span.start)
        if blocked is None:
            doc.ents = ents
        else:
            doc.set_ents(
                ents, blocked=[doc[i : i + 1] for i in numpy.flatnonzero(blocked)], default="outside"
            )

    # ------------------------------------------------------------------ training

    def get_loss(
        self, examples: Iterable[Example], span_scores: SpanScores
    ) -> Tuple[float, SpanScores]:
        """The multi-label categorical cross-entropy, averaged over docs, and
        its gradient; with soft targets when `boundary_smoothing` is set.

        examples (Iterable[Example]): the batch.
        span_scores (SpanScores): the model's output for the batch.
        RETURNS (Tuple[float, SpanScores]): the loss and the gradient.
        """
        examples = list(examples)
        layout = span_scores.layout
        scores = span_scores.scores
        n_blocks, n_labels, C, K = scores.shape
        xp = self.model.ops.xp
        gold = self._gold_spans(examples)
        place = self._gold_place
        epsilon = self.cfg.get("boundary_smoothing", 0.0)
        if epsilon > 0:
            targets = boundary_smoothed_targets(self.model.ops, layout, gold, scores.shape, epsilon)
        else:
            block, row, col, ok = layout.position(gold[0], gold[1], gold[2])
            targets = xp.zeros(scores.shape, dtype="bool")
            if ok.any():
                index = tuple(
                    self.model.ops.asarray(a[ok]) for a in (block, gold[3], row, col)
                )
                targets[index] = True
        mask = span_scores.mask
        partial = self._partial_annotation_mask(examples, place, layout, gold, n_labels)
        if partial is not None:
            mask = self.model.ops.asarray(partial)
        loss, grad = multilabel_categorical_crossentropy(
            scores.reshape(n_blocks, n_labels, C * K),
            targets.reshape(n_blocks, n_labels, C * K),
            mask.reshape(n_blocks, mask.shape[1], C * K),
            layout.blocks_per_doc,
        )
        n_docs = max(len(examples), 1)
        grad /= n_docs
        d_scores = grad.reshape(scores.shape)
        return float(loss.sum()) / n_docs, SpanScores(d_scores, span_scores.mask, layout)

    def _gold_spans(self, examples: List[Example]) -> Tuple[numpy.ndarray, ...]:
        """(doc, start, end, label) arrays of the gold spans aligned to the
        predicted tokenization. Spans of labels the pipe lacks are skipped,
        with a warning the first time each such label is seen."""
        place = self._gold_place
        unknown: Dict[str, int] = {}
        rows = self._span_rows([place.aligned(eg)[0] for eg in examples], unknown)
        if unknown:
            self._warned_labels.update(unknown)
            self._warn_unknown_labels(unknown)
        return rows

    def _span_rows(
        self, spans_per_doc: List[List[Span]], unknown: Optional[Dict[str, int]] = None
    ) -> Tuple[numpy.ndarray, ...]:
        """(doc, start, end, label) arrays of spans of the pipe's labels; the
        others are counted in `unknown` (once per label not yet warned about)."""
        label_map = self._label_map
        rows: List[Tuple[int, int, int, int]] = []
        for i, spans in enumerate(spans_per_doc):
            for span in spans:
                label = label_map.get(span.label_)
                if label is not None:
                    rows.append((i, span.start, span.end, label))
                elif unknown is not None and span.label_ not in self._warned_labels:
                    unknown[span.label_] = unknown.get(span.label_, 0) + 1
        if not rows:
            return tuple(numpy.zeros((0,), dtype="int64") for _ in range(4))
        return tuple(numpy.asarray(col, dtype="int64") for col in zip(*rows))

    def _partial_annotation_mask(
        self, examples: List[Example], place: GoldPlace, layout, gold, n_labels: int
    ) -> Optional[numpy.ndarray]:
        """The loss mask of a batch with partly annotated docs, (n_blocks,
        n_labels, C, K) bool on the CPU, or None when every token's gold is
        known (the head's own mask then applies). Spans touching a token with
        unknown gold are left out of the loss, except the gold spans and the
        spans known to be wrong (`incorrect_spans_key`), which are learned
        wherever they lie."""
        flags = [place.unknown_tokens(eg) for eg in examples]
        if all(f is None for f in flags):
            return None
        unknown = numpy.concatenate(
            [numpy.zeros(len(eg.predicted), dtype=bool) if f is None else f for eg, f in zip(examples, flags)]
        )
        keep = layout.valid_mask() & ~layout.touches(unknown)
        keep = numpy.repeat(keep, n_labels, axis=1)
        incorrect = self._span_rows([place.incorrect_spans(eg) for eg in examples])
        for doc, start, end, label in (gold, incorrect):
            block, row, col, ok = layout.position(doc, start, end)
            keep[block[ok], label[ok], row[ok], col[ok]] = True
        return keep

    @property
    def _gold_place(self) -> GoldPlace:
        return GoldPlace(
            self.name, self.key, bool(self.cfg["annotate_ents"]),
            missing_spans_key=self.cfg.get("missing_spans_key"),
            incorrect_spans_key=self.cfg.get("incorrect_spans_key"),
        )

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Initialize the pipe for training: labels, the span-length cap, the
        model's weights, and the training scores this pipe reports.

        get_examples (Callable[[], Iterable[Example]]): returns the training
            examples (gold as for `update`).
        nlp (Language): the current nlp object the component is part of; its
            `[training.score_weights]` get this pipe's score columns.
        labels (Optional[List[str]]): the labels to add, e.g. from
            `[initialize.components]` or `spacy init labels`; read from the
            data if not given.
        """
        super().initialize(get_examples, nlp=nlp, labels=labels)
        if nlp is not None:
            self._fit_score_weights(nlp)

    def _scan_gold(
        self, examples: Iterable[Example], add_labels: bool, cap: Optional[int]
    ) -> GoldScan:
        """Read the gold once (`gold.scan_gold`), take the labels from it if
        `add_labels`, and raise GP012 when all of it lies in the place this
        pipe does not read."""
        scan = scan_gold(
            self._gold_place, examples, known_labels=None if add_labels else self.labels, limit=cap,
        )
        if add_labels:
            for label in scan.labels:
                self.add_label(label)
        self._check_gold_place(scan)
        return scan

    def _check_gold_place(self, scan: GoldScan) -> None:
        """Raise GP012 (no labels) or warn GPW003 (labels given) when all the
        gold lies in the place this pipe does not read."""
        if scan.n_gold or not scan.n_other_place:
            return
        place = self._gold_place
        if place.use_ents:
            fix = (
                "For nested gold, set `annotate_ents = false`; for flat gold, "
                "also set the entities on the reference docs (`doc.ents`)."
            )
        else:
            fix = (
                "Set `annotate_ents = true` to learn from (and write) `doc.ents`, "
                f"or put the gold spans into doc.spans[\"{self.key}\"]."
            )
        args = dict(
            name=self.name, place=place.describe(), other=place.describe(not place.use_ents),
            n_other=scan.n_other_place, fix=fix,
        )
        if not self.labels:
            raise ValueError(Errors.GP012.format(**args))
        warnings.warn(Warnings.GPW003.format(n_gold=0, **args))

    def _warn_about_gold(self, scan: GoldScan, limit: Optional[int]) -> None:
        """The warnings of initialize: misaligned, too long, unknown labels,
        labels that cannot be learned."""
        if scan.first_misaligned is not None:
            span, doc = scan.first_misaligned
            warnings.warn(
                Warnings.GPW001.format(
                    name=self.name, count=scan.n_misaligned, n_docs=scan.n_misaligned_docs,
                    span=span.text, label=span.label_, doc=doc_preview(doc),
                )
            )
        if scan.first_too_long is not None:
            span, doc = scan.first_too_long
            warnings.warn(
                Warnings.GPW002.format(
                    name=self.name, count=scan.n_too_long, max_length=limit, span=span.text,
                    label=span.label_, length=len(span), doc=doc_preview(doc),
                )
            )
        if scan.unknown_labels:
            self._warned_labels.update(scan.unknown_labels)
            self._warn_unknown_labels(scan.unknown_labels)
        unlearnable = [label for label in self.labels if label in scan.labels and not scan.aligned_labels[label]]
        if unlearnable:
            warnings.warn(Warnings.GPW005.format(name=self.name, labels=unlearnable))

    def _warn_unknown_labels(self, counts: Dict[str, int]) -> None:
        listed = ", ".join(f"{label!r} ({n})" for label, n in sorted(counts.items()))
        warnings.warn(
            Warnings.GPW004.format(
                name=self.name, count=sum(counts.values()), labels=listed, known=list(self.labels)
            )
        )

    def _fit_score_weights(self, nlp: Language) -> None:
        """Make `[training.score_weights]` show this pipe's real scores.

        Adds the scores this pipe reports (e.g. `spans_<key>_f`, or `ents_f` as
        the main score with `annotate_ents`) where the config does not weigh
        them already, and removes span or entity scores that no component of
        the pipeline reports (they would print as columns of 0 and, in
        `meta.json`, as fake zeros), with a warning."""
        weights = nlp.config["training"].setdefault("score_weights", {})
        for key, value in default_score_weights(self.key, self.cfg["annotate_ents"]).items():
            weights.setdefault(key, value)
        reported = set()
        for name in nlp.component_names:
            pipe = nlp.get_pipe(name)
            if isinstance(pipe, GlobalPointerPipe):
                reported.update(pipe._reported_scores())
                continue
            reported.update(nlp.get_pipe_meta(name).default_score_weights or {})
            cfg = getattr(pipe, "cfg", None)
            if isinstance(cfg, dict) and cfg.get("spans_key"):
                reported.update(reported_scores(cfg["spans_key"], False))
        dead = [key for key in weights if _is_span_score(key) and key not in reported]
        if dead:
            for key in dead:
                del weights[key]
            warnings.warn(
                Warnings.GPW006.format(name=self.name, keys=dead, reported=self._reported_scores())
            )

    def _reported_scores(self) -> List[str]:
        """The names of the scores this pipe's scorer returns."""
        return reported_scores(self.key, self.cfg["annotate_ents"])

    def _check_loaded_cfg(self) -> None:
        """Fill in settings a pipeline saved by an older version lacks, and
        check the saved thresholds."""
        # A pipeline saved before these settings existed has none of them.
        for setting, default in (("thresholds", {}), ("ents_threshold", None),
                                 ("ents_thresholds", {}), ("max_positive", None),
                                 ("missing_spans_key", None), ("incorrect_spans_key", None)):
            self.cfg.setdefault(setting, default)
        make_threshold_table(self.name, self.cfg, self.labels)


def globalpointer_pipe_names(nlp: Language) -> List[str]:
    """The names of the pipeline's `globalpointer_ner` components, in order."""
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == "globalpointer_ner"]


def _per_doc(docs: List[Doc], candidates: Candidates):
    """Yield (doc, that doc's candidates sorted by start, end, label) for
    every doc, with one sort for the whole batch."""
    ordered = candidates.select(
        numpy.lexsort((candidates.label, candidates.end, candidates.start, candidates.doc))
    )
    bounds = numpy.searchsorted(ordered.doc, numpy.arange(len(docs) + 1))
    for i, doc in enumerate(docs):
        yield doc, ordered.select(slice(bounds[i], bounds[i + 1]))


def _blocked_tokens(doc: Doc) -> Optional[numpy.ndarray]:
    """(len(doc),) bool, True for the tokens that `doc.set_ents(blocked=...)`
    marked as outside any entity (IOB "B" without a type); None if none is."""
    if not len(doc):
        return None
    iob_type = doc.to_array([ENT_IOB, ENT_TYPE]).reshape(len(doc), 2)
    blocked = (iob_type[:, 0] == 3) & (iob_type[:, 1] == 0)
    return blocked if blocked.any() else None


def _is_span_score(key: str) -> bool:
    """Whether a score name is a span or entity score (`spans_<key>_f`,
    `ents_p`, ...), the kind a component of this package could report."""
    return key.startswith(("spans_", "ents_")) and key.rsplit("_", 1)[-1] in ("f", "p", "r", "type")

"""The base of both trainable pipes, `globalpointer_ner` and
`globalpointer_extractor`.

Both score every span of a doc, up to `max_length` tokens, with a
GlobalPointer model (`models/`), write their output to
`doc.spans[spans_key]` and learn from the gold there. `GlobalPointerPipe`
holds what they share: the settings every component has (`spans_key`,
`max_length`, checked), the labels, the span-length cap in force, the
skeleton of `initialize`, the grouped `update`, the memory bounds of
prediction, and loading with checks. A component says what its gold is
(`_scan_gold`, `_warn_about_gold`), how it learns (`get_loss`), what it
predicts (`predict`, `set_annotations`), which scores it reports
(`_reported_scores`) and how its own saved settings are checked
(`_check_loaded_cfg`).
"""
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.errors import Errors as SpacyErrors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from .errors import Errors, describe_error
from .models.layout import group_by_geometry
from .models.types import GPModelT

default_model_config = """
[model]
@architectures = "spacy-globalpointer.GlobalPointer.v1"
head_size = 64
use_rope = true
max_length = null

[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 96
rows = [5000, 1000, 2500, 2500]
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = ${model.tok2vec.embed.width}
window_size = 1
maxout_pieces = 3
depth = 4
"""
DEFAULT_GP_MODEL = Config().from_str(default_model_config)["model"]

# With `max_length = null` a pipe scores spans up to twice the longest gold
# span seen at initialize (at least MIN_LEARNED_MAX_LENGTH tokens), or up to
# FALLBACK_MAX_LENGTH when it was initialized from labels alone.
MIN_LEARNED_MAX_LENGTH = 16
FALLBACK_MAX_LENGTH = 64
# Prediction scores docs in windows of PREDICT_WINDOW span starts, grouped by
# length, with at most PREDICT_BATCH_SCORES score entries (8 MB in float32) per
# call of the head, so memory stays bounded: many labels or a long max_length
# mean fewer tokens per call, not more memory. (On CPU, small calls are also
# faster: the arrays stay in cache and freed memory is reused instead of
# page-faulted in.) A separate call for a group of shorter docs pays when it
# saves more than HEAD_CALL_OVERHEAD score entries per label of padding.
PREDICT_WINDOW = 1024
PREDICT_BATCH_SCORES = 2**21
HEAD_CALL_OVERHEAD = 2048


class GlobalPointerPipe(TrainablePipe):
    """A trainable pipe that scores spans with a GlobalPointer model (the
    refs "tok2vec" and "pointer" of `models.architectures`). Not a component
    of its own: see `GlobalPointerNER` and `GlobalPointerExtractor`.

    Subclasses pass their settings as `cfg` (with "spans_key", "max_length"
    and "learned_max_length") and implement `predict`, `set_annotations`,
    `get_loss`, `_scan_gold`, `_warn_about_gold`, `_reported_scores` and
    `_check_loaded_cfg`; `_check_settings` may check more settings.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: GPModelT,
        name: str,
        cfg: Dict[str, Any],
        *,
        scorer: Optional[Callable],
    ) -> None:
        """Check the shared settings (GP003, GP002), then the component's own
        (`_check_settings`), and give the head its span-length cap.

        cfg (Dict[str, Any]): the component's settings, saved as its 'cfg'
            (the labels are added in front).
        """
        spans_key, max_length = cfg["spans_key"], cfg["max_length"]
        if not isinstance(spans_key, str) or not spans_key:
            raise ValueError(Errors.GP003.format(name=name, setting="spans_key", value=spans_key))
        if max_length is not None and (isinstance(max_length, bool) or int(max_length) < 1):
            raise ValueError(Errors.GP002.format(name=name, value=max_length))
        _check_model_parts(name, model)
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": [], **cfg}
        self._check_settings()
        # The architecture's own max_length, used when the pipe's is null.
        self._model_max_length = self._head.attrs.get("max_length")
        self._sync_max_length()

    def _check_settings(self) -> None:
        """Check the component's own settings in `self.cfg` (raise a coded
        error); they may also be normalised there."""

    # ------------------------------------------------------------------ properties

    @property
    def key(self) -> str:
        """The key of `doc.spans` that holds gold and predicted spans."""
        return str(self.cfg["spans_key"])

    @property
    def labels(self) -> Tuple[str, ...]:
        """The types, in the order of the model's outputs."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """The labels, as `spacy init labels` saves them."""
        return list(self.labels)

    @property
    def max_length(self) -> int:
        """The longest span, in tokens, that the pipe scores."""
        for value in (
            self.cfg["max_length"],
            self._model_max_length,
            self.cfg["learned_max_length"],
        ):
            if value is not None:
                return int(value)
        return FALLBACK_MAX_LENGTH

    @property
    def _head(self) -> Model:
        return self.model.get_ref("pointer")

    @property
    def _label_map(self) -> Dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    # ------------------------------------------------------------------ labels

    def add_label(self, label: str) -> int:
        """Add a type. RETURNS (int): 0 if it was there already, else 1."""
        if not isinstance(label, str):
            raise ValueError(SpacyErrors.E187)
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def _allow_extra_label(self) -> None:
        """Raise E922 if the model's output size is already fixed."""
        if self._head.has_dim("nO") and self._head.get_dim("nO") == len(self.labels):
            raise ValueError(SpacyErrors.E922.format(name=self.name, nO=len(self.labels)))

    # ------------------------------------------------------------------ prediction

    def _window_settings(self) -> Dict[str, int]:
        """The memory bounds of prediction, as keyword arguments of the
        decoders (`ner.decoding.predict_windowed`,
        `extractor.decoding.predict_answers`): span starts per window, score
        entries per label of one head call, and what one more call costs."""
        return dict(
            window=PREDICT_WINDOW,
            max_entries=max(1, PREDICT_BATCH_SCORES // max(1, len(self.labels))),
            call_overhead=HEAD_CALL_OVERHEAD,
        )

    # ------------------------------------------------------------------ training

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Any] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples.

        examples (Iterable[Example]): the batch, gold as `get_loss` reads it.
        drop (float): the dropout rate.
        sgd (Optional[thinc.api.Optimizer]): the optimizer.
        losses (Optional[Dict[str, float]]): accumulated losses, updated in place.
        RETURNS (Dict[str, float]): the losses.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        self._require_initialized()
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return losses
        self._sync_max_length()
        set_dropout_rate(self.model, drop)
        tokvecs, backprop_tok2vec = self.model.get_ref("tok2vec").begin_update(docs)
        d_tokvecs: List[Any] = [None] * len(docs)
        # The head scores docs of similar length together (see
        # group_by_geometry); the loss is the mean over the whole batch.
        groups = group_by_geometry(
            [len(doc) for doc in docs], self.max_length, self._head.attrs["block_size"],
            overhead=HEAD_CALL_OVERHEAD,
        )
        for group in groups:
            scores, backprop_head = self._head.begin_update([tokvecs[i] for i in group])
            loss, d_scores = self.get_loss([examples[i] for i in group], scores)
            share = len(group) / len(examples)
            d_scores.scores *= share
            for i, d_vecs in zip(group, backprop_head(d_scores)):
                d_tokvecs[i] = d_vecs
            losses[self.name] += loss * share
        backprop_tok2vec(d_tokvecs)
        if sgd is not None:
            self.finish_update(sgd)
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Apply the gradients: the encoder's (when it is part of this
        component's model) at the optimizer's learning rate, the head's at that
        rate times the architecture's `learn_rate_scale`.

        sgd (thinc.api.Optimizer): the optimizer.
        """
        self.model.get_ref("tok2vec").finish_update(sgd)
        scale = self._head.attrs.get("learn_rate_scale", 1.0)
        self._head.finish_update(sgd if scale == 1.0 else _ScaledOptimizer(sgd, scale))

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Initialize the pipe for training: labels, the span-length cap and
        the model's weights; warn about gold that cannot be learned.

        get_examples (Callable[[], Iterable[Example]]): returns the training
            examples (gold as for `update`).
        nlp (Language): the current nlp object the component is part of.
        labels (Optional[List[str]]): the labels to add, e.g. from
            `[initialize.components]` or `spacy init labels`; read from the
            data if not given.
        """
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        for label in labels or []:
            self.add_label(label)
        # A span can only be too long for a cap set in the config: a cap learned
        # from this data is at least twice its longest span.
        fixed_cap = self.cfg["max_length"] or self._model_max_length
        scan = self._scan_gold(get_examples(), labels is None, fixed_cap)
        self._require_labels()
        if scan.longest:
            self.cfg["learned_max_length"] = max(MIN_LEARNED_MAX_LENGTH, 2 * scan.longest)
        self._sync_max_length()
        self._warn_about_gold(scan, fixed_cap)
        head = self._head
        if head.has_dim("nO") is None:
            head.set_dim("nO", len(self.labels))
        sample = [eg.x for eg in islice(get_examples(), 10)]
        self.model.initialize(X=sample)

    def _scan_gold(self, examples: Iterable[Example], add_labels: bool, cap: Optional[int]):
        """Read the gold of the training examples once: add its labels (if
        `add_labels`), raise for gold the pipe cannot use at all, and count
        what `_warn_about_gold` reports.
        RETURNS: the counts, with `longest`, the longest aligned gold span."""
        raise NotImplementedError

    def _warn_about_gold(self, scan, cap: Optional[int]) -> None:
        """Warn about the gold that `_scan_gold` found cannot be learned
        (`cap`: the span-length cap set in the config, if any)."""
        raise NotImplementedError

    def _reported_scores(self) -> List[str]:
        """The names of the scores this pipe's scorer returns."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers

    def _sync_max_length(self) -> None:
        """Give the head the span-length cap in force (pipe setting, else the
        architecture's, else learned from the data)."""
        self._head.attrs["max_length"] = self.max_length

    def _require_initialized(self) -> None:
        """Raise GP004 if the model has no weights yet."""
        if self._head.has_param("W") is not True or not self.labels:
            raise ValueError(Errors.GP004.format(name=self.name))

    # ------------------------------------------------------------------ serialization

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()):
        """Load the pipe from a bytestring. RETURNS: self."""
        return self._load(partial(super().from_bytes, bytes_data, exclude=exclude), "<bytes>")

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()):
        """Load the pipe from a directory. RETURNS: self."""
        path = Path(path)
        for part in ("cfg", "model"):
            if part not in exclude and not (path / part).exists():
                raise ValueError(
                    Errors.GP007.format(name=self.name, path=path, reason=f"'{part}' is missing")
                )
        return self._load(partial(super().from_disk, path, exclude=exclude), path)

    def _load(self, load: Callable[[], Any], source) -> "GlobalPointerPipe":
        """Run one of TrainablePipe's loaders, turning its failures into GP007,
        check that labels and weights belong together (e.g. not a 'cfg' from
        another training run) and the component's saved settings, and give
        the head its span-length cap."""
        try:
            load()
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise ValueError(
                Errors.GP007.format(name=self.name, path=source, reason=describe_error(err))
            ) from err
        head = self._head
        if head.has_dim("nO") is True and head.get_dim("nO") != len(self.labels):
            reason = (
                f"'cfg' lists {len(self.labels)} label(s) but the weights in "
                f"'model' score {head.get_dim('nO')}"
            )
            raise ValueError(Errors.GP007.format(name=self.name, path=source, reason=reason))
        self._check_loaded_cfg()
        self._sync_max_length()
        return self

    def _check_loaded_cfg(self) -> None:
        """Check (and complete) the settings of a loaded pipe."""
        raise NotImplementedError


def _check_model_parts(name: str, model: Model) -> None:
    """The pipe runs the model's `tok2vec` ref, then its `pointer` ref (and
    `finish_update` updates those two): raise GP031 if one is missing, GP032
    if a parameterised layer lies outside both (it would never be used)."""
    for ref in ("tok2vec", "pointer"):
        if not model.has_ref(ref):
            raise ValueError(Errors.GP031.format(name=name, ref=ref))
    inside = {node.id for ref in ("tok2vec", "pointer") for node in model.get_ref(ref).walk()}
    outside = [node.name for node in model.walk() if node.id not in inside and node.param_names]
    if outside:
        raise ValueError(Errors.GP032.format(name=name, layers=", ".join(outside)))


class _ScaledOptimizer:
    """The optimizer as one part of a model sees it: every update of that
    part at `scale` times the learning rate (thinc's `lr_scale`, which Adam,
    RAdam, SGD and the L2 weight decay all honour). Averages, gradient
    clipping and the schedule stay the wrapped optimizer's."""

    def __init__(self, optimizer: Optimizer, scale: float) -> None:
        self.optimizer = optimizer
        self.scale = scale

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * self.scale)

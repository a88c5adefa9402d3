"""The decision threshold chosen on the dev set while training:
`spacy-globalpointer.tune_threshold.v1`, a `[training.before_to_disk]` callback.

The best threshold depends on the encoder and on how long the model trained:
an under-trained model scores spans lower than a converged one, and a
fine-tuned transformer scores them higher than a random-init tok2vec. So a
fixed default is right in one regime and costs points in another. Set as the
training's `before_to_disk` callback, this runs every time `spacy train` saves
a checkpoint (`model-last` after each evaluation, copied to `model-best` when it
is the best so far), with the weights being saved:

1. the training's own dev corpus (`[training] dev_corpus`, read once) is run
   through the pipeline up to each `globalpointer_ner` component, whose
   `predict` then keeps every span above a low floor with its probability;
2. from the grid, the single `threshold` that maximises the micro F of
   `doc.spans[spans_key]` is chosen, and with `annotate_ents` the single
   `ents_threshold` that maximises the F of `doc.ents` (labels with a per-type
   override in `thresholds` / `ents_thresholds` keep theirs);
3. the values are written into the pipe's `cfg` and the pipeline's config, so
   the saved pipeline carries them, and into `nlp.meta["globalpointer"]`
   with the dev F they reach.

The dev scores spaCy logs at an evaluation use the threshold chosen at the
previous checkpoint. The test split is never seen: only `spacy train` calls
the callback, and only with the dev corpus.
"""
import logging
from typing import Callable, Dict, List, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.training import Example
from spacy.util import registry, resolve_dot_names

from ..errors import Errors
from ..spans import is_probability
from .pipe import GlobalPointerNER, globalpointer_pipe_names
from .tuning import DEFAULT_GRID, DevSet, collect_dev_sets, ent_counts, span_counts

logger = logging.getLogger("spacy")


@registry.callbacks("spacy-globalpointer.tune_threshold.v1")
def make_threshold_tuner(grid: Optional[List[float]] = None) -> Callable[[Language], Language]:
    """The `before_to_disk` callback that sets each `globalpointer_ner`
    component's threshold to the best one on the dev set.

    grid (Optional[List[float]]): the thresholds tried; default 0.05, 0.10, ..., 0.95.
    RETURNS (Callable[[Language], Language]): the callback; it changes the
        pipeline in place and returns it.
    """
    values = tuple(grid if grid is not None else DEFAULT_GRID)
    if not values or not all(is_probability(v) for v in values):
        raise ValueError(Errors.GP040.format(grid=grid))
    dev_examples: List[Example] = []

    def tune_threshold_before_to_disk(nlp: Language) -> Language:
        names = globalpointer_pipe_names(nlp)
        if not names:
            raise ValueError(Errors.GP041.format(pipes=nlp.pipe_names))
        if not dev_examples:
            dev_examples.extend(_read_dev_corpus(nlp))
        record = nlp.meta.setdefault("globalpointer", {}).setdefault("thresholds_tuned_on_dev", {})
        for name in names:
            record[name] = set_best_thresholds(nlp, name, dev_examples, values)
            logger.info("%s: thresholds tuned on dev: %s", name, record[name])
        return nlp

    return tune_threshold_before_to_disk


def set_best_thresholds(
    nlp: Language, name: str, examples: Sequence[Example], grid: Sequence[float] = DEFAULT_GRID
) -> Dict[str, float]:
    """Set the component's `threshold` (and, with `annotate_ents`, its
    `ents_threshold`) to the grid value that maximises the dev F of that output.

    nlp (Language): the pipeline, changed in place.
    name (str): the `globalpointer_ner` component.
    examples (Sequence[Example]): the dev examples.
    grid (Sequence[float]): the values tried.
    RETURNS (Dict[str, float]): the values set, and the dev F (0-1) each reaches.
    """
    pipe: GlobalPointerNER = nlp.get_pipe(name)
    settings = {"threshold": ("spans", "thresholds")}
    if pipe.cfg["annotate_ents"]:
        settings["ents_threshold"] = ("ents", "ents_thresholds")
    chosen: Dict[str, float] = {}
    dev_sets = collect_dev_sets(nlp, name, examples, [target for target, _ in settings.values()])
    table = pipe.threshold_table
    for setting, (target, overrides) in settings.items():
        dev = dev_sets[target]
        fixed = numpy.asarray([label in pipe.cfg[overrides] for label in pipe.labels], dtype=bool)
        start = table.ents if target == "ents" else table.spans
        value, f = best_single_threshold(dev, target, start, fixed, grid, pipe.cfg["overwrite_ents"])
        pipe.cfg[setting] = value
        nlp.get_pipe_config(name)[setting] = value
        chosen[setting] = value
        chosen[f"{target}_f"] = round(f, 6)
    return chosen


def best_single_threshold(
    dev: DevSet,
    target: str,
    start: numpy.ndarray,
    fixed: numpy.ndarray,
    grid: Sequence[float],
    overwrite_ents: bool,
):
    """The grid value that, as the threshold of every label not `fixed`,
    maximises the micro F of `target` on `dev`; between equal F, the one with
    fewer false positives; between values equal in both, the middle one.

    dev (DevSet): candidates and gold.
    target (str): "spans" or "ents".
    start (numpy.ndarray): (n_labels,) the thresholds in force; `fixed` labels keep theirs.
    fixed (numpy.ndarray): (n_labels,) bool, the labels with a per-type override.
    grid (Sequence[float]): the values tried.
    overwrite_ents (bool): the pipe's `overwrite_ents`, for the `ents` target.
    RETURNS (Tuple[float, float]): the value and its F.
    """
    keys = {}
    for value in sorted(set(grid)):
        thresholds = numpy.where(fixed, start, value)
        counts = ent_counts(dev, thresholds, overwrite_ents) if target == "ents" else span_counts(dev, thresholds)
        keys[value] = counts.objective()
    best = max(keys.values())
    tied = [value for value, key in keys.items() if key == best]
    return round(float(tied[(len(tied) - 1) // 2]), 6), best[0]


def _read_dev_corpus(nlp: Language) -> List[Example]:
    """The examples of the training's dev corpus, as `spacy train` reads them."""
    config = nlp.config.interpolate()
    dot_name = config["training"]["dev_corpus"]
    (corpus,) = resolve_dot_names(config, [dot_name])
    return list(corpus(nlp))

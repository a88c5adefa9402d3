"""The CMRC 2018 answer metrics (F1 and exact match), as a registered scorer.

Reimplemented from the description of the official CMRC 2018 evaluation
script (v5): a predicted answer is compared with every gold answer of its
question, and the best match counts.

- Normalisation: lower-case, strip, and drop the punctuation of the official
  list `PUNCTUATION` (ASCII symbols such as - : _ * ^ / \\ ~ ` + = and the
  common Chinese marks; not ASCII . , ! ? ( ) or quotes, as in the original).
- F1: both strings are segmented, each CJK character (U+4E00-U+9FA5) is one
  segment and every run of other characters is split into words; F1 is
  computed from the longest common *contiguous* run of segments (precision =
  its length / predicted segments, recall = its length / gold segments).
- Exact match: the normalised strings are equal (inner spaces count).

The official script splits the runs of non-CJK characters with
`nltk.word_tokenize`; we do not depend on NLTK and split them into runs of
word characters, numbers with inner `.` or `,` ("3.5", "1,000"), and single
other characters. This differs from NLTK only for English contractions
("don't") and a few abbreviations, i.e. only in answers with English text.
"""
import re
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from spacy.training import Example
from spacy.util import registry

# The official list, one character each. (It also holds the two-character
# "……", which never equals a single character, so "…" is kept.)
PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
DEFAULT_ANSWERS_KEY = "answers"
# The scores `answer_score` returns, with their default training weights.
ANSWER_SCORES = {"answer_f1": 1.0, "answer_em": 0.0, "answer_per_type": None}
_CJK = re.compile("[\u4e00-\u9fa5]")
_WORD = re.compile(r"\d+(?:[.,]\d+)+|\w+|[^\w\s]")


def normalize_answer(text: str) -> str:
    """Lower-case, strip and remove the official punctuation (for EM)."""
    return "".join(c for c in text.lower().strip() if c not in PUNCTUATION)


def segment_answer(text: str) -> List[str]:
    """The official mixed segmentation, punctuation removed: one segment per
    CJK character, runs of other characters split into words."""
    segments: List[str] = []
    run: List[str] = []
    for char in text.lower().strip():
        if char in PUNCTUATION:
            continue
        if _CJK.match(char):
            segments.extend(_WORD.findall("".join(run)))
            run = []
            segments.append(char)
        else:
            run.append(char)
    segments.extend(_WORD.findall("".join(run)))
    return segments


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common contiguous run of segments (substring,
    not subsequence, as in the official script)."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def answer_f1(prediction: str, answers: Iterable[str]) -> float:
    """CMRC 2018 F1 of a prediction against the best of the gold answers."""
    predicted = segment_answer(prediction)
    best = 0.0
    for answer in answers:
        gold = segment_answer(answer)
        common = longest_common_run(gold, predicted)
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def answer_exact_match(prediction: str, answers: Iterable[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer."""
    predicted = normalize_answer(prediction)
    return float(any(normalize_answer(answer) == predicted for answer in answers))


def answer_score(
    examples: Iterable[Example],
    *,
    spans_key: str = "answer",
    labels: Optional[Sequence[str]] = None,
    answers_key: str = DEFAULT_ANSWERS_KEY,
    **kwargs: Any,
) -> Dict[str, Any]:
    """Score the predicted answers of single-answer extraction with the CMRC
    2018 metrics.

    For every example and type, the prediction is the text of the (first)
    predicted span of that type in `doc.spans[spans_key]`, or "" if there is
    none. The gold answers are the strings in
    `reference.user_data[answers_key][label]` when present (e.g. all
    annotators' answers), else the texts of the gold spans of that type in
    `reference.spans[spans_key]`. A type without any gold answer in an
    annotated doc counts as correct (F1 = EM = 1) if nothing is predicted,
    else as wrong (the SQuAD 2.0 convention). Docs without annotation for the
    key are skipped.

    examples (Iterable[Example]): examples with predicted and gold docs.
    spans_key (str): the span group of the answers.
    labels (Optional[Sequence[str]]): the types (the pipe passes its labels);
        if None, the types found in the gold.
    answers_key (str): the key of `doc.user_data` holding the answer strings.
    RETURNS (Dict[str, Any]): `answer_f1`, `answer_em` (fractions, averaged
        over (doc, type) pairs, None when none was scored) and
        `answer_per_type` ({label: {"f1", "em", "n"}}). The names do not
        depend on `spans_key`, so `[training.score_weights]` stays valid when
        it changes. Other keyword arguments are ignored.
    """
    totals: Dict[str, List[float]] = {}
    for eg in examples:
        gold = _gold_answers(eg.reference, spans_key, answers_key)
        if gold is None:
            continue
        predicted: Dict[str, str] = {}
        for span in eg.predicted.spans.get(spans_key, []):
            predicted.setdefault(span.label_, span.text)
        for label in labels if labels is not None else sorted(gold):
            answers = gold.get(label, [])
            prediction = predicted.get(label, "")
            if answers:
                f1 = answer_f1(prediction, answers)
                em = answer_exact_match(prediction, answers)
            else:
                f1 = em = float(label not in predicted)
            total = totals.setdefault(label, [0.0, 0.0, 0.0])
            total[0] += f1
            total[1] += em
            total[2] += 1
    n = sum(t[2] for t in totals.values())
    per_type = {
        label: {"f1": f1 / count, "em": em / count, "n": int(count)}
        for label, (f1, em, count) in sorted(totals.items())
    }
    return {
        "answer_f1": sum(t[0] for t in totals.values()) / n if n else None,
        "answer_em": sum(t[1] for t in totals.values()) / n if n else None,
        "answer_per_type": per_type,
    }


def _gold_answers(doc, spans_key: str, answers_key: str) -> Optional[Dict[str, List[str]]]:
    """{label: answer strings} of a reference doc, or None if the doc has no
    annotation for the key."""
    stored = doc.user_data.get(answers_key)
    gold: Dict[str, List[str]] = {}
    if spans_key in doc.spans:
        for span in doc.spans[spans_key]:
            gold.setdefault(span.label_, []).append(span.text)
    elif not isinstance(stored, dict):
        return None
    if isinstance(stored, dict):
        for label, answers in stored.items():
            if answers:
                gold[str(label)] = [str(a) for a in answers]
    return gold


@registry.scorers("spacy-globalpointer.answer_scorer.v1")
def make_answer_scorer(answers_key: str = DEFAULT_ANSWERS_KEY) -> Callable[..., Dict[str, Any]]:
    """Registered factory of the CMRC 2018 answer scorer, the default scorer
    of `globalpointer_extractor`.

    answers_key (str): the key of `doc.user_data` that holds, per type, the
        gold answer strings (all annotators'); gold spans are used where absent.
    RETURNS (Callable): the scorer.
    """
    # A partial of a module-level function, so the pipe stays picklable.
    return partial(answer_score, answers_key=answers_key)

"""Convert CMRC 2018 (SQuAD-style JSON) to spaCy DocBins for `globalpointer_extractor`.

    python -m scripts.convert_cmrc INPUT_DIR OUTPUT_DIR [--seed 0] [--limit N]

INPUT_DIR holds cmrc2018_dev.json and cmrc2018_trial.json (and, if you have
it, cmrc2018_train.json). One doc per question, made with
`spacy_globalpointer.make_question_doc` and `spacy.blank("zh")` (one token per
character): "question [SEP] context", the context in doc.spans["context"], the
gold answer span (label ANSWER) in doc.spans["answer"], and every answer
string of the question (all annotators') in doc.user_data["answers"]["ANSWER"]
for the official metric; doc.user_data["id"] is the question id.

Splits (OUTPUT_DIR/{train,dev,test,trial}.spacy):
- without a train file (the published data): the dev file is split by
  ARTICLE, seeded, 80/10/10 into train/dev/test, so no context is shared
  between splits;
- with a train file: it is train, and the dev file is split 50/50 by article
  into dev/test;
- trial (differently distributed: longer answers) is a second test set.

Answer offsets. An answer whose `answer_start` does not point at its text is
re-located when the text occurs exactly once in the context, else it is
unusable as a span ("not found" / "ambiguous"). The gold span of a question is
its first usable answer. A question without a usable answer is dropped from
train (it cannot be learned) and kept in dev/test/trial without a gold span,
scored against its answer strings. Every case is counted, with examples, in
the printed report and OUTPUT_DIR/report.json, which also lists the answer
lengths (tokens) of each split.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy
import typer
from wasabi import Printer

from .common import read_json, write_json
from .corpora import _seeded_parts

LABEL = "ANSWER"
SPANS_KEY = "answer"
CONTEXT_KEY = "context"
ANSWERS_KEY = "answers"
SEPARATOR = "[SEP]"
FILES = {"train": "cmrc2018_train.json", "dev": "cmrc2018_dev.json", "trial": "cmrc2018_trial.json"}
OUTPUT_SPLITS = ("train", "dev", "test", "trial")
MAX_EXAMPLES = 3

# Outcome of checking one answer's offset.
OK = "offset_ok"
RELOCATED = "relocated"  # wrong offset, text found exactly once: moved there
NOT_FOUND = "not_found"  # wrong offset, text not in the context: unusable
AMBIGUOUS = "ambiguous"  # wrong offset, text found several times: unusable
TRIMMED = "trimmed_whitespace"  # whitespace at the answer's edges, trimmed
OUTCOMES = (OK, RELOCATED, NOT_FOUND, AMBIGUOUS, TRIMMED)


@dataclass
class Question:
    id: str
    article: str
    question: str
    context: str
    answers: List[Tuple[str, int]]  # (text, answer_start) as in the file


@dataclass
class Report:
    """What was read from one file and what became of its answers."""

    path: str
    articles: int = 0
    questions: int = 0
    answers: int = 0
    outcomes: Counter = field(default_factory=Counter)
    examples: Dict[str, List[str]] = field(default_factory=dict)
    gold_from_later_answer: int = 0  # first answer unusable, a later one used
    without_gold: int = 0  # no usable answer at all

    def note(self, kind: str, example: str) -> None:
        self.outcomes[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(example)


class CmrcFormatError(ValueError):
    """A file that is not SQuAD-style CMRC 2018 JSON."""


def read_cmrc(path: Path) -> List[Question]:
    """The questions of a SQuAD-style file, in file order."""
    try:
        data = read_json(path)["data"]
        questions = []
        for article in data:
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    answers = [(a["text"], int(a["answer_start"])) for a in qa.get("answers", [])]
                    questions.append(
                        Question(str(qa["id"]), str(article.get("id", paragraph.get("id"))),
                                 qa["question"], context, answers)
                    )
    except (KeyError, TypeError, ValueError) as err:
        raise CmrcFormatError(f"{path}: not SQuAD-style JSON ({type(err).__name__}: {err})") from err
    return questions


def locate_answer(context: str, text: str, start: int) -> Tuple[Optional[Tuple[int, int]], str]:
    """The character [start, end) of an answer in its context, and how it was
    found (OK, RELOCATED, NOT_FOUND or AMBIGUOUS; None for the last two)."""
    if start >= 0 and context[start : start + len(text)] == text:
        return (start, start + len(text)), OK
    count = context.count(text)
    if count == 1:
        start = context.index(text)
        return (start, start + len(text)), RELOCATED
    return None, NOT_FOUND if count == 0 else AMBIGUOUS


def gold_answer(q: Question, report: Report) -> Optional[Tuple[int, int]]:
    """Check every answer of a question (counted in the report) and return
    the character span of the first usable one, whitespace trimmed."""
    gold = None
    for k, (text, start) in enumerate(q.answers):
        report.answers += 1
        span, outcome = locate_answer(q.context, text, start)
        report.note(outcome, f"{q.id} answer {k}: {text!r} at {start}: {_snippet(q.context, start)}")
        if span is None or not text.strip():
            continue
        lead = len(text) - len(text.lstrip())
        trail = len(text) - len(text.rstrip())
        if lead or trail:
            report.note(TRIMMED, f"{q.id} answer {k}: {text!r}")
            span = (span[0] + lead, span[1] - trail)
        if gold is None:
            gold = span
            report.gold_from_later_answer += k > 0
    report.without_gold += gold is None
    return gold


def question_doc(nlp, q: Question, gold: Optional[Tuple[int, int]]):
    """The doc of one question (see the module docstring)."""
    from spacy_globalpointer import make_question_doc

    doc = make_question_doc(
        nlp, q.question, q.context,
        answers={LABEL: gold} if gold is not None else None,
        spans_key=SPANS_KEY, separator=SEPARATOR, context_key=CONTEXT_KEY,
    )
    if gold is None:
        doc.spans[SPANS_KEY] = []
    doc.user_data[ANSWERS_KEY] = {LABEL: [text for text, _ in q.answers]}
    doc.user_data["id"] = q.id
    return doc


def split_by_article(questions: List[Question], fractions, seed: int) -> List[List[Question]]:
    """Seeded split of the questions by article (articles in file order)."""
    articles = list(dict.fromkeys(q.article for q in questions))
    parts = _seeded_parts(len(articles), fractions, seed)
    which = {articles[i]: p for p, part in enumerate(parts) for i in part}
    out: List[List[Question]] = [[] for _ in parts]
    for q in questions:
        out[which[q.article]].append(q)
    return out


def convert(input_dir: Path, output_dir: Path, seed: int = 0, limit: int = 0) -> dict:
    """Read, check, split and write the corpus. RETURNS the report (a dict,
    also written to OUTPUT_DIR/report.json)."""
    import spacy
    from spacy.tokens import DocBin

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    found = {name: input_dir / f for name, f in FILES.items() if (input_dir / f).exists()}
    if "dev" not in found:
        raise CmrcFormatError(f"{input_dir}: no {FILES['dev']}")
    read = {name: read_cmrc(path) for name, path in found.items()}
    if "train" in read:
        splits = {"train": read["train"]}
        splits["dev"], splits["test"] = split_by_article(read["dev"], (0.5, 0.5), seed)
        note = f"official train is train; dev split 50/50 by article (seed {seed}) into dev/test"
    else:
        splits = dict(zip(("train", "dev", "test"), split_by_article(read["dev"], (0.8, 0.1, 0.1), seed)))
        note = f"no train file: dev split 80/10/10 by article (seed {seed}) into train/dev/test"
    splits["trial"] = read.get("trial", [])
    source = {"train": "train" if "train" in read else "dev", "dev": "dev", "test": "dev", "trial": "trial"}
    nlp = spacy.blank("zh")
    reports = {name: Report(str(path)) for name, path in found.items()}
    for name, questions in read.items():
        reports[name].questions = len(questions)
        reports[name].articles = len({q.article for q in questions})
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = {"note": note, "seed": seed, "limit": limit, "splits": {}}
    for split in OUTPUT_SPLITS:
        questions = splits[split][:limit] if limit > 0 else splits[split]
        docs, lengths, dropped = [], [], 0
        for q in questions:
            gold = gold_answer(q, reports[source[split]])
            if gold is None and split == "train":
                dropped += 1
                continue
            doc = question_doc(nlp, q, gold)
            docs.append(doc)
            lengths.extend(len(span) for span in doc.spans[SPANS_KEY])
        DocBin(docs=docs, store_user_data=True).to_disk(output_dir / f"{split}.spacy")
        summary["splits"][split] = {
            "articles": len({q.article for q in questions}),
            "questions": len(questions),
            "docs": len(docs),
            "without_gold_span": len(docs) - len(lengths),
            "dropped_without_gold": dropped,
            "answer_tokens": _length_stats(lengths),
            "doc_tokens_max": max((len(d) for d in docs), default=0),
        }
    summary["files"] = {
        name: {
            "path": r.path, "articles": r.articles, "questions": r.questions, "answers": r.answers,
            **{k: r.outcomes.get(k, 0) for k in OUTCOMES},
            "gold_from_later_answer": r.gold_from_later_answer,
            "questions_without_usable_answer": r.without_gold,
            "examples": {k: v for k, v in r.examples.items() if k != OK},
        }
        for name, r in reports.items()
    }
    write_json(output_dir / "report.json", summary, ensure_ascii=False)
    return summary


def _length_stats(lengths: List[int]) -> dict:
    if not lengths:
        return {"n": 0}
    arr = numpy.asarray(lengths)
    return {
        "n": int(arr.size), "mean": round(float(arr.mean()), 1), "max": int(arr.max()),
        **{f"p{q}": int(numpy.percentile(arr, q)) for q in (50, 90, 95, 99)},
    }


def _snippet(text: str, start: int, width: int = 30) -> str:
    lo = max(0, start - width // 3)
    return "…" + text[lo : lo + width].replace("\n", " ") + "…"


def print_report(summary: dict, msg: Printer) -> None:
    msg.divider("Answers read (offsets checked per answer)")
    rows = [
        (name, f["articles"], f["questions"], f["answers"], *(f[k] for k in OUTCOMES),
         f["gold_from_later_answer"], f["questions_without_usable_answer"])
        for name, f in summary["files"].items()
    ]
    msg.table(rows, header=("file", "articles", "questions", "answers", *OUTCOMES,
                            "gold from a later answer", "questions w/o usable answer"),
              divider=True)
    for name, f in summary["files"].items():
        for kind, examples in f["examples"].items():
            msg.warn(f"{name}: {f[kind]} {kind}")
            for example in examples:
                msg.text(f"    {example}")
    msg.info(
        "Relocated answers are used at the position where their text occurs; unusable "
        "ones (not found, ambiguous) only count as answer strings for the metric. "
        "Questions without a usable answer are dropped from train and kept (without "
        "a gold span) in dev/test/trial."
    )
    msg.info(f"Split: {summary['note']}")
    msg.divider("Output")
    rows = [
        (split, s["articles"], s["questions"], s["docs"], s["without_gold_span"],
         s["dropped_without_gold"], s["answer_tokens"].get("mean", "-"),
         s["answer_tokens"].get("p99", "-"), s["answer_tokens"].get("max", "-"), s["doc_tokens_max"])
        for split, s in summary["splits"].items()
    ]
    msg.table(rows, header=("split", "articles", "questions", "docs", "no gold span", "dropped",
                            "answer len mean", "p99", "max", "doc len max"), divider=True)


def main(
    input_dir: Path = typer.Argument(..., help="Folder with cmrc2018_dev.json and cmrc2018_trial.json"),
    output_dir: Path = typer.Argument(..., help="Folder for {train,dev,test,trial}.spacy and report.json"),
    seed: int = typer.Option(0, "--seed", help="Seed of the split by article"),
    limit: int = typer.Option(0, "--limit", help="Keep only the first N questions per split (0: all)"),
) -> None:
    """Convert CMRC 2018 to spaCy DocBins for single-answer extraction."""
    msg = Printer()
    try:
        summary = convert(input_dir, output_dir, seed, limit)
    except CmrcFormatError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(code=1)
    print_report(summary, msg)
    msg.good(f"Saved CMRC 2018 to {output_dir}")


if __name__ == "__main__":
    typer.run(main)

"""Convert an NER corpus to spaCy DocBins: OUTPUT_DIR/{train,dev,test}.spacy.

    python -m scripts.convert FORMAT INPUT_DIR OUTPUT_DIR [--spans-key sc] [--seed 0] [--limit N] [--lang LANG]

FORMAT is one of cluener, cmeee, bio_tab, bio_space, bmes, weibo, conll_words,
conll_words_nested, conll_words_layered, btc, or a corpus name: cmeee_v2 (= cmeee),
msra (= bio_tab), peoples_daily (= bio_space), resume_ner (= bmes), weibo_ner
(= weibo), wnut17 (= conll_words, English), danplus (= conll_words_nested,
Danish), litbank (= conll_words_layered, English). The train/dev/test files are
found in INPUT_DIR by name (see corpora.find_split_files; BTC's in its
train_dev_test_conll/ sub-folder); LitBank's one file per document
(INPUT_DIR/entities/tsv/*.tsv) is split by document (corpora.split_documents). Chinese docs are made with spacy.blank("zh") (one
token per character); word corpora keep their tokens and are checked against
spacy.blank(LANG)'s tokenizer. All gold spans go to doc.spans[SPANS_KEY]; for
flat formats a non-overlapping subset also goes to doc.ents. Unlabeled files
(CLUENER and CMeEE test) are skipped, and missing splits are derived with a
seeded split (see corpora.make_splits and README.md).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import Printer

from . import corpora
from .corpora import CorpusFormatError, FileReport

PROBLEM_ACTIONS = {
    corpora.OUT_OF_RANGE: "dropped",
    corpora.EMPTY: "dropped",
    corpora.TEXT_MISMATCH: "dropped",
    corpora.MISALIGNED: "dropped",
    corpora.DUPLICATE: "dropped (one copy kept)",
    corpora.ILL_FORMED: "{policy}",
    corpora.TRIMMED: "kept, whitespace trimmed",
    corpora.ENTS_OVERLAP: "kept in doc.spans, left out of doc.ents",
    corpora.NON_CHAR_DOC: "docs whose tokens are not single characters",
    corpora.TOKENIZER_MISALIGNED: "kept; spaCy's tokenizer for the language cuts inside the span, "
    "so a pipeline that tokenizes with spaCy cannot predict it exactly",
    corpora.BLANK_TOKEN: "left out of the doc (tagged O, so no gold span changes)",
    corpora.TOKEN_WHITESPACE: "whitespace trimmed from the word (tagged O)",
    corpora.BLANK_SENTENCE: "sentences of blank words only: no doc",
}


@dataclass
class SplitStats:
    docs: int = 0
    chars: int = 0
    max_len: int = 0
    spans: int = 0
    ents: int = 0
    overlapping_pairs: int = 0
    labels: Counter = field(default_factory=Counter)


@dataclass
class Conversion:
    format: str
    reports: List[FileReport]
    skipped: List[str]
    notes: List[str]
    splits: Dict[str, SplitStats]
    outputs: Dict[str, Path]


def _add_stats(st: SplitStats, doc, spans_key: str) -> None:
    st.docs += 1
    st.chars += len(doc.text)
    st.max_len = max(st.max_len, len(doc.text))
    spans = list(doc.spans.get(spans_key, []))
    st.spans += len(spans)
    st.ents += len(doc.ents)
    st.labels.update(s.label_ for s in spans)
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            if b.start >= a.end:
                break  # spans are sorted by start
            st.overlapping_pairs += 1


def convert(
    fmt: str,
    input_dir: Path,
    output_dir: Path,
    spans_key: str = "sc",
    seed: int = 0,
    limit: int = 0,
    ill_formed: str = "repair",
    progress: bool = True,
    msg: Printer = Printer(no_print=True),
    lang: Optional[str] = None,
) -> Conversion:
    """Read, check, split and write a corpus. Raises CorpusFormatError on a
    malformed file and KeyError on an unknown format. `lang` overrides the
    format's language (whose tokenizer word corpora are checked against)."""
    import spacy
    from spacy.tokens import DocBin

    spec = corpora.get_format(fmt)
    if ill_formed not in corpora.ILL_FORMED_POLICIES:
        raise ValueError(f"--ill-formed must be one of {corpora.ILL_FORMED_POLICIES}")
    nlp = spacy.blank(lang or spec.lang)
    input_dir = Path(input_dir)
    if spec.subdir and (input_dir / spec.subdir).is_dir():
        input_dir = input_dir / spec.subdir
    doc_notes: List[str] = []
    if spec.documents:  # one file per document, split by document
        documents, doc_notes = corpora.split_documents(input_dir, spec.documents, seed)
        files = {s: (f"{input_dir} ({len(paths)} documents)", paths) for s, paths in documents.items()}
    else:
        files = corpora.find_split_files(input_dir, spec.suffix)
    if not files:
        raise CorpusFormatError(
            str(input_dir), "", f"no train/dev/test files for format {spec.name!r}"
        )
    reports: Dict[str, FileReport] = {}
    skipped: List[str] = []
    records: Dict[str, list] = {}
    for split in corpora.SPLITS:
        if split not in files:
            continue
        path, data = files[split]
        msg.text(f"Reading {split}: {path}")
        report = FileReport(path=path, split=split)
        if spec.documents:
            recs = [rec for doc in data for rec in spec.reader(str(doc), ill_formed=ill_formed, report=report)]
        else:
            recs = spec.reader(path, data, ill_formed=ill_formed, report=report)
        reports[split] = report
        if not any(r.labeled for r in recs) or not any(r.spans for r in recs):
            report.unlabeled = True
            report.docs = len(recs)
            skipped.append(f"{split}: {path} ({len(recs)} records, no annotation)")
            continue
        records[split] = recs
    if not records:
        raise CorpusFormatError(str(input_dir), "", "no labeled train/dev/test file found")
    # Decide the output splits on (source split, index) pairs, then build each
    # doc once, in file order, and add it to the output split(s) it belongs to.
    keys = {src: [(src, i) for i in range(len(recs))] for src, recs in records.items()}
    splits, notes = corpora.make_splits(keys, seed=seed)
    if spec.documents:
        notes = doc_notes
    if limit and limit > 0:
        splits = {s: items[:limit] for s, items in splits.items()}
        notes.append(f"--limit {limit}: only the first {limit} docs of each split are written")
    targets: Dict[tuple, List[str]] = {}
    for out_split in corpora.SPLITS:
        for key in splits[out_split]:
            targets.setdefault(key, []).append(out_split)
    bins = {s: DocBin(store_user_data=False) for s in corpora.SPLITS}
    stats = {s: SplitStats() for s in corpora.SPLITS}
    for src, recs in records.items():
        iterator = enumerate(recs)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(recs), desc=f"Converting {src}", unit="doc", leave=False, disable=None)
        for i, rec in iterator:
            # every record is checked (and counted), even if --limit leaves it out
            doc = corpora.build_doc(nlp, rec, reports[src], spans_key, spec.nested)
            for out_split in targets.get((src, i), []):
                bins[out_split].add(doc)
                _add_stats(stats[out_split], doc, spans_key)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for split in corpora.SPLITS:
        out = output_dir / f"{split}.spacy"
        bins[split].to_disk(out)
        outputs[split] = out
    reports = [reports[s] for s in corpora.SPLITS if s in reports]
    return Conversion(spec.name, reports, skipped, notes, stats, outputs)


def _dropped(r: FileReport, ill_formed: str) -> int:
    """Spans of the file that are not in doc.spans."""
    n = r.spans_read - r.spans_kept
    if ill_formed == "drop":  # dropped by the reader, never counted as read
        n += r.problems.get(corpora.ILL_FORMED, 0)
    return n


def print_conversion(conv: Conversion, msg: Printer, ill_formed: str, spans_key: str) -> None:
    msg.divider("Files read")
    rows = []
    for r in conv.reports:
        if r.unlabeled:
            rows.append((r.split, Path(r.path).name, r.docs, "-", "-", "-", "-", "-", "unlabeled, skipped"))
        else:
            rows.append(
                (
                    r.split,
                    Path(r.path).name,
                    r.docs,
                    r.chars,
                    r.spans_read,
                    r.spans_kept,
                    r.ents if not corpora.FORMATS[conv.format].nested else "-",
                    _dropped(r, ill_formed),
                    sum(r.problems.values()),
                )
            )
    msg.table(
        rows,
        header=("split", "file", "sentences", "chars", "spans read", "spans kept", "ents", "dropped", "issues"),
        divider=True,
        aligns=("l", "l", "r", "r", "r", "r", "r", "r", "r"),
    )
    any_problem = False
    for r in conv.reports:
        for kind in corpora.PROBLEM_KINDS:
            n = r.problems.get(kind, 0)
            if not n:
                continue
            any_problem = True
            action = PROBLEM_ACTIONS[kind].format(
                policy="repaired (starts a new entity)" if ill_formed == "repair" else "dropped"
            )
            msg.warn(f"{Path(r.path).name}: {n} {kind} -> {action}")
            for ex in r.examples.get(kind, []):
                msg.text(f"    {ex}")
    if not any_problem:
        msg.good("No misaligned, mismatching or ill-formed spans")
    for s in conv.skipped:
        msg.info(f"Skipped unlabeled file {s}")
    for note in conv.notes:
        msg.info(f"Split: {note}")
    msg.divider(f"Output (doc.spans[{spans_key!r}]{'' if corpora.FORMATS[conv.format].nested else ' and doc.ents'})")
    rows = []
    for split, st in conv.splits.items():
        rows.append(
            (split, st.docs, st.chars, st.max_len, st.spans, st.ents, st.overlapping_pairs, str(conv.outputs[split]))
        )
    msg.table(
        rows,
        header=("split", "docs", "chars", "max len", "spans", "ents", "overlap pairs", "file"),
        divider=True,
        aligns=("l", "r", "r", "r", "r", "r", "r", "l"),
    )
    labels = sorted(set().union(*(st.labels for st in conv.splits.values())))
    rows = [(lab, *(conv.splits[s].labels.get(lab, 0) for s in corpora.SPLITS)) for lab in labels]
    rows.append(("TOTAL", *(conv.splits[s].spans for s in corpora.SPLITS)))
    msg.table(rows, header=("label", *corpora.SPLITS), divider=True, aligns=("l", "r", "r", "r"))


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    format: str = typer.Argument(
        ...,
        help="cluener, cmeee, bio_tab, bio_space, bmes, weibo, conll_words, conll_words_nested, "
        "conll_words_layered, btc, or a corpus name: cmeee_v2, msra, peoples_daily, resume_ner, "
        "weibo_ner, wnut17, danplus, litbank",
    ),
    input_dir: Path = typer.Argument(..., help="Folder with the corpus files"),
    output_dir: Path = typer.Argument(..., help="Folder for train/dev/test.spacy"),
    spans_key: str = typer.Option("sc", "--spans-key", help="Key of doc.spans for the gold spans"),
    seed: int = typer.Option(0, "--seed", help="Seed of the shuffles that derive missing splits"),
    limit: int = typer.Option(0, "--limit", help="Keep only the first N docs per split (0: all)"),
    ill_formed: str = typer.Option(
        "repair",
        "--ill-formed",
        help="Ill-formed BIO/BMES chunks (I- without B-, B- without E-): "
        "'repair' (conlleval: start a new entity) or 'drop'. Counted either way.",
    ),
    lang: Optional[str] = typer.Option(
        None, "--lang", help="spaCy language of a word corpus (default: the format's, e.g. en for wnut17)"
    ),
) -> None:
    """Convert an NER corpus to spaCy DocBins (train/dev/test.spacy)."""
    msg = Printer()
    try:
        conv = convert(
            format, input_dir, output_dir, spans_key, seed, limit, ill_formed, progress=True, msg=msg,
            lang=lang,
        )
    except CorpusFormatError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(code=1)
    except (KeyError, ValueError) as e:
        typer.echo(f"Error: {e.args[0] if e.args else e}", err=True)
        raise typer.Exit(code=1)
    print_conversion(conv, msg, ill_formed, spans_key)
    msg.good(f"Saved {conv.format} corpus to {output_dir}")


if __name__ == "__main__":
    app()

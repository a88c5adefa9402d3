"""Train, save and record three tiny pipelines for tests/test_compat.py.

    python tests/data/make_saved_pipelines.py

Run once with the package as it was BEFORE the restructuring of issue 18
(commit b959c09, module paths `spacy_globalpointer.pipeline`,
`spacy_globalpointer.extractor`, ...). It writes, next to this file,

- saved/ner_nested: `globalpointer_ner`, nested spans in doc.spans["sc"];
- saved/ner_ents: `globalpointer_ner` with `annotate_ents = true`;
- saved/extractor: `globalpointer_extractor` (question [SEP] context docs);
- saved/predictions.json: what each pipeline predicts for NER_TEXTS or
  QA_TEXTS (spans with their scores, and doc.ents; for the NER pipelines
  also with `threshold = LOW_THRESHOLD`), and the versions that made them.

The test loads the pipelines with the current code and checks that they
predict the same. Do not re-run this script after a change to the package:
the point of the files is that they were made by the old code. The models
are tiny (width 16, head size 8) so the files stay small.
"""
import json
import subprocess
import sys
from pathlib import Path

import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

HERE = Path(__file__).parent
OUT = HERE / "saved"

TINY_MODEL = {
    "@architectures": "spacy-globalpointer.GlobalPointer.v1",
    "head_size": 8,
    "use_rope": True,
    "max_length": None,
    "tok2vec": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 16,
            "rows": [500, 100, 100, 100],
            "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 16,
            "window_size": 1,
            "maxout_pieces": 2,
            "depth": 1,
        },
    },
}

NESTED = [
    ("北京大学在北京", [(0, 4, "ORG"), (0, 2, "LOC"), (5, 7, "LOC")]),
    ("我爱上海交通大学", [(2, 8, "ORG"), (2, 4, "LOC")]),
    ("张三去了杭州西湖", [(0, 2, "PER"), (4, 8, "LOC"), (4, 6, "LOC")]),
]
FLAT = [
    ("李四住在南京", [(0, 2, "PER"), (4, 6, "LOC")]),
    ("王五在广州工作", [(0, 2, "PER"), (3, 5, "LOC")]),
    ("深圳很热", [(0, 2, "LOC")]),
]
QA = [
    ("谁发明了电话？", "贝尔发明了电话。", (0, 2)),
    ("北京在哪里？", "北京位于华北平原的北部。", (4, 8)),
    ("熊猫吃什么？", "大熊猫主要吃竹子，偶尔吃肉。", (6, 8)),
]
# Texts seen in training and unseen ones.
NER_TEXTS = [text for text, _ in NESTED + FLAT] + ["上海交通大学在上海", "李四去了北京大学", ""]
LOW_THRESHOLD = 0.01
QA_TEXTS = [f"{q} [SEP] {c}" for q, c, _ in QA] + ["谁住在南京？ [SEP] 李四住在南京。"]


def ner_examples(nlp, data, ents):
    examples = []
    for text, spans in data:
        ref = nlp.make_doc(text)
        gold = [ref.char_span(s, e, label=label) for s, e, label in spans]
        ref.spans["sc"] = gold
        if ents:
            ref.ents = gold
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def qa_examples(nlp):
    from spacy_globalpointer import make_question_doc

    return [
        Example(make_question_doc(nlp, q, c), make_question_doc(nlp, q, c, answers={"ANSWER": a}))
        for q, c, a in QA
    ]


def train(nlp, examples, n_iter):
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)


def predictions(nlp, texts, key):
    out = []
    for doc in nlp.pipe(texts):
        group = doc.spans.get(key, [])
        scores = [float(x) for x in group.attrs.get("scores", [])] if len(group) else []
        out.append({
            "text": doc.text,
            "spans": [[s.start, s.end, s.label_] for s in group],
            "scores": scores,
            "ents": [[e.start, e.end, e.label_] for e in doc.ents],
        })
    return out


def main():
    import spacy_globalpointer

    OUT.mkdir(exist_ok=True)
    record = {"made_by": {
        "spacy_globalpointer": spacy_globalpointer.__version__,
        "spacy": spacy.__version__,
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                 cwd=HERE).stdout.strip(),
        "python": sys.version.split()[0],
    }}
    for name, data, ents in (("ner_nested", NESTED, False), ("ner_ents", FLAT, True)):
        fix_random_seed(0)
        nlp = spacy.blank("zh")
        nlp.add_pipe("globalpointer_ner", config={"model": TINY_MODEL, "annotate_ents": ents})
        train(nlp, ner_examples(nlp, data, ents), 80)
        nlp.to_disk(OUT / name)
        record[name] = predictions(nlp, NER_TEXTS, "sc")
        # Many more spans, with scores far from 0 and 1, at a low threshold.
        nlp.get_pipe("globalpointer_ner").cfg["threshold"] = LOW_THRESHOLD
        record[f"{name}_low_threshold"] = predictions(nlp, NER_TEXTS, "sc")
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_extractor", config={"model": TINY_MODEL})
    train(nlp, qa_examples(nlp), 80)
    nlp.to_disk(OUT / "extractor")
    record["extractor"] = predictions(nlp, QA_TEXTS, "answer")
    (OUT / "predictions.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf8"
    )


if __name__ == "__main__":
    main()

"""Error and warning messages of spacy-globalpointer.

Codes are prefixed with GP (errors) and GPW (warnings) so they never collide with
spaCy's own E/W codes. Accessing `Errors.GP001` returns "[GP001] message".
"""
from spacy.errors import ErrorsWithCodes


class Warnings(metaclass=ErrorsWithCodes):
    GPW001 = (
        "Component '{name}': {count} gold span(s) in {n_docs} doc(s) do not align "
        "with the predicted tokenization and are left out of training. First "
        "example: span '{span}' ({label}) in doc '{doc}'. Check the tokenizer "
        "and the span offsets of your corpus."
    )
    GPW002 = (
        "Component '{name}': {count} gold span(s) are longer than the longest "
        "span the component scores (`max_length` = {max_length} tokens) and "
        "cannot be learned or predicted. First example: span '{span}' ({label}, "
        "{length} tokens) in doc '{doc}'. Raise `max_length` in the component's "
        "config if these spans matter."
    )
    GPW003 = (
        "Component '{name}' has `annotate_ents = true`, but {count} gold entity "
        "span(s) in doc '{doc}' overlap; `doc.ents` cannot hold overlapping "
        "spans. Keep the nested gold in `doc.spans[\"{spans_key}\"]` and set "
        "`annotate_ents = false` to learn nested spans."
    )
    # Codes from 20 on: single-answer extraction (globalpointer_extractor).
    GPW020 = (
        "Component '{name}': {count} of {total} gold answer(s) are not among the "
        "spans the component scores ({too_long} longer than `max_length` = "
        "{max_length} tokens, {outside} outside the doc's context region) and "
        "{misaligned} do not align with the tokenization. The softmax losses "
        "cannot learn them and they cannot be predicted. First example: "
        "'{span}' ({label}) in doc '{doc}'. Raise `max_length` in the "
        "component's config, or check the context span group / separator."
    )


class Errors(metaclass=ErrorsWithCodes):
    GP001 = (
        "Component '{name}': `threshold` must be a probability between 0 and 1 "
        "(exclusive), got {value!r}. Set "
        "`[components.{name}] threshold` to e.g. 0.5."
    )
    GP002 = (
        "Component '{name}': `max_length` must be a positive number of tokens "
        "or null (score spans up to a length learned from the training data), "
        "got {value!r}."
    )
    GP003 = (
        "Component '{name}': `spans_key` must be a non-empty string, got "
        "{value!r}."
    )
    GP004 = (
        "Component '{name}' has not been initialized, so it has no labels and "
        "no weights. Call `nlp.initialize()` (or train it with `spacy train`) "
        "before using it, or load a trained pipeline with `spacy.load`."
    )
    GP005 = (
        "The GlobalPointer head needs an even `head_size` (RoPE rotates pairs of "
        "dimensions), got {value!r}."
    )
    GP006 = (
        "The GlobalPointer head received token vectors of width {got}, but it "
        "was initialized for width {expected}. The `tok2vec` feeding component "
        "'{name}' must keep the width it was trained with."
    )
    GP007 = (
        "Component '{name}' cannot load from '{path}': {reason}. The directory "
        "is incomplete or corrupted; re-save the pipeline with `nlp.to_disk` "
        "or re-run training."
    )
    GP008 = (
        "Component '{name}': the gold span {span!r} in doc '{doc}' is "
        "{problem}. Gold spans must lie inside the doc and have start < end."
    )
    # Codes from 20 on: single-answer extraction (globalpointer_extractor).
    GP020 = (
        "Component '{name}' extracts at most one answer per type and doc, but "
        "doc '{doc}' has {count} gold spans of type '{label}' in "
        "`doc.spans[\"{spans_key}\"]`: {spans}. Keep one (e.g. the first "
        "annotator's) and put all answer strings in `doc.user_data[\"answers\"]` "
        "for the scorer, or use `globalpointer_ner` for several spans per type."
    )
    GP021 = (
        "Component '{name}': `doc.spans[\"{context_key}\"]` marks where answers "
        "may lie and must hold one span, but doc '{doc}' has {count}. Put the "
        "whole context in one span (see `make_question_doc`)."
    )
    GP022 = (
        "Component '{name}': `threshold` must be a probability between 0 and 1 "
        "(0: always answer, 1: never), got {value!r}."
    )
    GP023 = (
        "make_question_doc: the question {question!r} contains the separator "
        "{separator!r}. Choose another `separator` (and set the same one as "
        "the component's `separator`)."
    )
    GP024 = (
        "make_question_doc: the answer {answer!r} ({label}, characters "
        "{start}..{end} of the context) does not start and end on token "
        "boundaries of the tokenizer, or lies outside the context."
    )

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
        "Component '{name}' learns from {place}, but the training data has "
        "{n_gold} gold span(s) there and {n_other} in {other}, so it trains on "
        "no positives. {fix}"
    )
    GPW004 = (
        "Component '{name}': {count} gold span(s) have labels the component "
        "does not have and are left out of training: {labels}. Its labels are "
        "{known}. Add them to `[initialize.components.{name}] labels` (or "
        "leave `labels` out to take every label from the data), or remove "
        "these spans from the corpus."
    )
    GPW005 = (
        "Component '{name}': no gold span of label(s) {labels} aligns with the "
        "predicted tokenization, so the component keeps the label(s) but "
        "cannot learn them. See warning GPW001 about misaligned spans."
    )
    GPW006 = (
        "Component '{name}': `[training.score_weights]` names {keys}, which no "
        "component in the pipeline reports, so these columns would always "
        "show 0 (and weigh on the training score). They were removed for this "
        "run; the component reports {reported}. Remove them from the config to "
        "silence this warning."
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
        "Component '{name}': `{setting}` must be a probability between 0 and 1 "
        "(0 keeps every scored span, 1 none), got {value!r}. Set it in "
        "`[components.{name}]`, e.g. `threshold = 0.5`."
    )
    GP002 = (
        "Component '{name}': `max_length` must be a positive number of tokens "
        "or null (score spans up to a length learned from the training data), "
        "got {value!r}."
    )
    GP003 = (
        "Component '{name}': `{setting}` must be a non-empty string (the key "
        "of a span group in `doc.spans`), got {value!r}."
    )
    GP004 = (
        "Component '{name}' has not been initialized, so it has no labels and "
        "no weights. Call `nlp.initialize()` (or train it with `spacy train`) "
        "before using it, or load a trained pipeline with `spacy.load`."
    )
    GP005 = (
        "The GlobalPointer head needs a positive whole number as `head_size`, "
        "got {value!r}. Set `head_size` in the architecture's config, e.g. 64."
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
    GP009 = (
        "Component '{name}': `{setting}` must map labels to probabilities, "
        "e.g. `{setting} = {{\"PER\": 0.4}}`, got {value!r}."
    )
    GP010 = (
        "Component '{name}': `max_positive` must be a positive whole number "
        "(the most labels kept per span) or null (no limit), got {value!r}."
    )
    GP011 = (
        "Component '{name}': `{setting}` names label(s) {unknown} that the "
        "component does not predict. Its labels are {labels}."
    )
    GP012 = (
        "Component '{name}' learns from {place}, but the training data has no "
        "gold there, while {other} holds {n_other} span(s). {fix}"
    )
    GP013 = (
        "The GlobalPointer head needs an even `head_size` when `use_rope` is "
        "true (RoPE rotates pairs of dimensions), got {value!r}. Use an even "
        "size, or set `use_rope = false`."
    )
    GP014 = (
        "Component '{name}': `boundary_smoothing` must be at least 0 and below "
        "1 (the share of a gold span's target given to its neighbours), got "
        "{value!r}. Use e.g. 0.1, or 0 to switch it off."
    )
    GP015 = (
        "Component '{name}': `{setting}` must be null or a non-empty string "
        "other than `spans_key` ({spans_key!r}), got {value!r}: it names the "
        "span group of the reference docs that holds {what}. Use e.g. "
        "{example!r}, or null."
    )
    # Threshold tuning (python -m spacy_globalpointer tune-thresholds).
    GP016 = (
        "tune-thresholds: the target must be one of {targets}, got {value!r}. "
        "Use `--target spans` to tune `thresholds` (doc.spans) or `--target "
        "ents` to tune `ents_thresholds` (doc.ents)."
    )
    GP017 = (
        "Component '{name}' does not write doc.ents (`annotate_ents = false`), "
        "so it has no entity thresholds to tune: tune the `spans` target "
        "(`--target spans`)."
    )
    GP018 = (
        "The pipeline has {count} `globalpointer_ner` component(s) ({names}), "
        "so tune-thresholds cannot choose one: name the component to tune "
        "with `--pipe`."
    )
    GP019 = (
        "tune-thresholds: `--step` must be above 0 and below 0.5 (it tries the "
        "thresholds step, 2 * step, ... up to 1 - step), got {value!r}. Use "
        "e.g. `--step 0.05`."
    )

    # Batch annotation (spacy_globalpointer.annotate). Codes from GP101 keep
    # clear of the pipe's own.
    GP101 = (
        "Cannot read the input '{path}': {reason}. Give a JSON Lines (.jsonl, "
        ".json, .ndjson) or Parquet (.parquet) file, or a folder of them."
    )
    GP102 = (
        "The input '{path}' has no column '{column}' (found: {found}). Name "
        "the columns with `--text-column` and `--id-column`."
    )
    GP103 = (
        "Cannot use the model '{model}': {reason}. Give the folder of a trained "
        "pipeline (e.g. `training/model-best`) or the name of an installed "
        "pipeline package that contains a `globalpointer_ner` component."
    )
    GP104 = "The setting `{name}` must be a positive number, got {value!r}."
    GP105 = (
        "The output '{path}' exists. Choose another path, or pass `--overwrite` "
        "(`overwrite=True`) to replace it."
    )
    GP106 = (
        "The model '{model}' has several `globalpointer_ner` components "
        "({names}). Choose one with `--pipe` (`pipe_name=`)."
    )
    GP107 = (
        "Unknown {name} '{value}': choose one of {choices}."
    )
    GP108 = (
        "The Ray engine needs Ray Data and pyarrow: pip install "
        "\"spacy-globalpointer[ray]\" ({reason})."
    )
    GP109 = (
        "Batch annotation needs pyarrow: pip install "
        "\"spacy-globalpointer[annotate]\" ({reason})."
    )
    GP110 = (
        "The {engine} engine stopped: {reason}. The shards finished so far are "
        "in '{output}'; rerun with `--overwrite` once the cause is fixed."
    )
    GP111 = (
        "The id column '{column}' of '{path}' has the type {type}, which the "
        "output does not support. Use an integer or string id column."
    )
    GP112 = (
        "The output folder '{path}' holds files that no annotation run wrote "
        "({names}); `--overwrite` only replaces part files. Choose a new or "
        "empty folder."
    )
    GP113 = (
        "Cannot join the Ray cluster at '{address}': {reason}. Start it with "
        "`ray start --head` (and `ray start --address HEAD:6379` on the other "
        "nodes), or leave out `--address` to start a local one for the run."
    )
    GP114 = (
        "Batch annotation: the run ended with shard(s) {missing} not written "
        "and shard(s) {twice} reported more than once, so the output in "
        "'{output}' is not complete. This is a bug of spacy-globalpointer: "
        "please report it with the command you ran. Rerun with `--overwrite` "
        "to write every shard again."
    )
    GP115 = (
        "Batch annotation: shard {index} of '{path}' has {got} row(s), not the "
        "{expected} planned: the input changed during the run. Leave it as it "
        "is until the run ends (or annotate a copy), then rerun with "
        "`--overwrite`."
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
    GP025 = (
        "spacy-globalpointer.ExpectedF1Loss.v1: `{setting}` must be at least 0, "
        "got {value!r}. Set it in the loss block of the component's config "
        "(`[components.<name>.loss]`), e.g. `{setting} = 0.01`, or 0 to leave "
        "the term out."
    )
    # Codes from 30 on: the model architectures.
    GP030 = (
        "The GlobalPointer head's `learn_rate_scale` must be a positive number "
        "(the head's learning rate as a multiple of the optimizer's), got "
        "{value!r}. Set it in the architecture's config, e.g. "
        "`learn_rate_scale = 10.0`, or 1.0 to train the head at the encoder's rate."
    )
    GP031 = (
        "Component '{name}': its model has no `{ref}` ref. The pipe runs the "
        "model's `tok2vec` ref (token vectors), then its `pointer` ref (the "
        "span scores): a custom architecture must set both (`model.set_ref`), "
        "as `spacy-globalpointer.GlobalPointer.v1` does."
    )
    GP032 = (
        "Component '{name}': its model has parameterised layers outside its "
        "`tok2vec` and `pointer` refs ({layers}). The pipe runs only those two "
        "refs, so these layers would never be used or trained. Put them inside "
        "the `tok2vec` ref (e.g. `chain(tok2vec, layer)` set as the ref)."
    )
    GP040 = (
        "spacy-globalpointer.tune_threshold.v1: `grid` must list probabilities "
        "between 0 and 1, got {grid!r}. Leave it out of `[training.before_to_disk]` "
        "(0.05, 0.10, ..., 0.95) or list the thresholds to try, e.g. "
        "`grid = [0.1, 0.2, 0.3, 0.4, 0.5]`."
    )
    GP041 = (
        "spacy-globalpointer.tune_threshold.v1 is the training's "
        "`before_to_disk` callback, but the pipeline has no `globalpointer_ner` "
        "component (pipes: {pipes}). Add one, or set "
        "`[training] before_to_disk = null`."
    )


# Pieces of messages


def doc_preview(doc, n_chars: int = 40) -> str:
    """The doc's text, shortened for messages."""
    text = doc.text
    return text if len(text) <= n_chars else text[:n_chars] + "..."


def describe_error(err: Exception) -> str:
    """The exception's type and first line, shortened for messages."""
    message = str(err).strip().splitlines()
    return f"{type(err).__name__}: {message[0] if message else ''}"[:200]

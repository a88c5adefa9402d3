"""Readers of the Chinese JSON corpora: CLUENER2020 (JSON lines) and CMeEE
v1/v2 (a JSON array, nested). End offsets in the files are inclusive."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from .records import CorpusFormatError, RawSpan, Record, read_text

def _json_records(path: str, text: str) -> Iterable[Tuple[str, object]]:
    """Records of a JSON array file or a JSON-lines file, with their position."""
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorpusFormatError(path, f"line {e.lineno}", f"invalid JSON ({e.msg})")
        for i, obj in enumerate(data, 1):
            yield f"record {i}", obj
    else:
        for i, line in enumerate(io.StringIO(text, newline="\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusFormatError(path, f"line {i}", f"invalid JSON ({e.msg})")
            yield f"line {i}", obj


def _get_text(path: str, where: str, obj: object) -> str:
    if not isinstance(obj, dict):
        raise CorpusFormatError(path, where, "expected a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise CorpusFormatError(path, where, 'missing or non-string "text"')
    return text


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def read_cluener(path: str, data: Optional[bytes] = None) -> List[Record]:
    """CLUENER2020: {"text", "label": {type: {entity: [[start, end], ...]}}}, end inclusive."""
    records = []
    name = Path(path).name
    for where, obj in _json_records(path, read_text(path, data)):
        text = _get_text(path, where, obj)
        label = obj.get("label")  # type: ignore[union-attr]
        spans: List[RawSpan] = []
        if label is not None:
            if not isinstance(label, dict):
                raise CorpusFormatError(path, where, '"label" must be an object')
            for etype, mentions in label.items():
                if not isinstance(mentions, dict) or not etype:
                    raise CorpusFormatError(
                        path, where, f'"label"/"{etype}" must map entity strings to offsets'
                    )
                for entity, offsets in mentions.items():
                    if not isinstance(offsets, list):
                        raise CorpusFormatError(
                            path, where, f"offsets of {entity!r} must be a list"
                        )
                    for pair in offsets:
                        if not (
                            isinstance(pair, list)
                            and len(pair) == 2
                            and all(_is_int(x) for x in pair)
                        ):
                            raise CorpusFormatError(
                                path, where, f"bad offsets {pair!r} for {entity!r}"
                            )
                        spans.append(RawSpan(pair[0], pair[1] + 1, etype, entity))
        records.append(Record(text, spans, f"{name} {where}", labeled=label is not None))
    return records


def read_cmeee(path: str, data: Optional[bytes] = None) -> List[Record]:
    """CMeEE v1/v2: [{"text", "entities": [{start_idx, end_idx, type, entity}]}], end inclusive."""
    records = []
    name = Path(path).name
    for where, obj in _json_records(path, read_text(path, data)):
        text = _get_text(path, where, obj)
        entities = obj.get("entities")  # type: ignore[union-attr]
        spans: List[RawSpan] = []
        if entities is not None:
            if not isinstance(entities, list):
                raise CorpusFormatError(path, where, '"entities" must be a list')
            for j, ent in enumerate(entities):
                if not (
                    isinstance(ent, dict)
                    and _is_int(ent.get("start_idx"))
                    and _is_int(ent.get("end_idx"))
                    and isinstance(ent.get("type"), str)
                    and ent.get("type")
                ):
                    raise CorpusFormatError(
                        path,
                        where,
                        f"entity {j} needs integer start_idx/end_idx and a type: {ent!r}",
                    )
                expected = ent.get("entity")
                if expected is not None and not isinstance(expected, str):
                    raise CorpusFormatError(path, where, f'entity {j}: "entity" must be a string')
                spans.append(
                    RawSpan(ent["start_idx"], ent["end_idx"] + 1, ent["type"], expected)
                )
        records.append(Record(text, spans, f"{name} {where}", labeled=entities is not None))
    return records

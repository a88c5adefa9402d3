"""The output side of batch annotation: one file per shard, written whole.

Each shard's rows go to `part-<shard>.parquet` (or `.jsonl`) in the output
folder, first under a hidden temporary name and then renamed. A shard that is
annotated twice (a Ray task retried after its worker died) therefore replaces
its own file: no row is lost or written twice, and readers (which skip hidden
files) never see a half-written one. pyarrow is imported inside the functions.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.tokens import DocBin

from ..errors import Errors
from .sources import JSONL, PARQUET, AnnotateError

SUFFIX = {PARQUET: ".parquet", JSONL: ".jsonl"}
DOCBIN_SUFFIX = ".spacy"
TMP_MARK = ".tmp-"


@dataclass(frozen=True)
class OutputRow:
    """The output for one input row.

    id (Any): the row's id.
    position (int): the row's position in the input (see `InputRow`).
    spans (List[Dict[str, Any]]): its span records (see `span_records`).
    error (Optional[str]): why it has no annotation, else None.
    """

    id: Any
    position: int
    spans: List[Dict[str, Any]]
    error: Optional[str]


def prepare_folder(path: Path, overwrite: bool) -> None:
    """Create an output folder, or empty it of earlier part files.

    path (Path): the folder.
    overwrite (bool): whether earlier output may be replaced; without it an
        existing non-empty folder (or a file) raises GP105. Only part files
        are ever deleted: a folder with other files raises GP112.
    """
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not overwrite or not path.is_dir():
            raise AnnotateError(Errors.GP105.format(path=path))
        ours = set(path.glob("part-*")) | set(path.glob(f".part-*{TMP_MARK}*"))
        others = sorted(p.name for p in path.iterdir() if p not in ours)
        if others:
            raise AnnotateError(Errors.GP112.format(path=path, names=", ".join(others[:5])))
        for old in ours:
            old.unlink()
    path.mkdir(parents=True, exist_ok=True)


def remove_leftovers(path: Path) -> None:
    """Delete temporary files that killed workers left in a folder.

    path (Path): the folder.
    """
    for tmp in path.glob(f".part-*{TMP_MARK}*"):
        tmp.unlink(missing_ok=True)


def write_rows(rows: List[OutputRow], stem: Path, fmt: str, id_type: str) -> Path:
    """Write the output rows of one shard, atomically.

    rows (List[OutputRow]): the rows.
    stem (Path): the file's path without its suffix.
    fmt (str): "parquet" or "jsonl".
    id_type (str): the Arrow type of the id column.
    RETURNS (Path): the file written.
    """
    path = stem.with_suffix(SUFFIX[fmt])
    tmp = _tmp_path(path)
    if fmt == PARQUET:
        import pyarrow.parquet as pq

        pq.write_table(_rows_to_table(rows, id_type), tmp)
    else:
        with tmp.open("w", encoding="utf8") as file:
            for row in rows:
                record = {
                    "id": row.id, "position": row.position, "spans": row.spans, "error": row.error
                }
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def write_docbin(docbin: DocBin, stem: Path) -> Path:
    """Write the annotated docs of one shard, atomically.

    docbin (DocBin): the docs (rows with an error have none); each doc's id is
        in `doc.user_data["id"]`.
    stem (Path): the file's path without its suffix.
    RETURNS (Path): the file written.
    """
    path = stem.with_suffix(DOCBIN_SUFFIX)
    tmp = _tmp_path(path)
    docbin.to_disk(tmp)
    os.replace(tmp, path)
    return path


def output_schema(id_type: str):
    """The Arrow schema of the output.

    id_type (str): the Arrow type of the id column, e.g. "int64" or "string".
    RETURNS (pyarrow.Schema): id, position, spans (a list of structs) and error.
    """
    import pyarrow as pa

    span = pa.struct(
        [
            ("start_char", pa.int64()),
            ("end_char", pa.int64()),
            ("label", pa.string()),
            ("score", pa.float32()),
            ("in_ents", pa.bool_()),
        ]
    )
    return pa.schema(
        [
            ("id", pa.type_for_alias(id_type)),
            ("position", pa.int64()),
            ("spans", pa.list_(span)),
            ("error", pa.string()),
        ]
    )


def _rows_to_table(rows: List[OutputRow], id_type: str):
    """The rows as an Arrow table with the output schema."""
    import pyarrow as pa

    schema = output_schema(id_type)
    columns = [[getattr(r, field.name) for r in rows] for field in schema]
    return pa.Table.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema)],
        schema=schema,
    )


def _tmp_path(path: Path) -> Path:
    """A hidden name next to `path`, unique to this process."""
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")

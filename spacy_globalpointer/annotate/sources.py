"""The input side of batch annotation: cut JSON Lines or Parquet files into
shards of consecutive rows, and read the rows of one shard.

A shard knows the position of its first row in the whole input, so every row
gets the same position (its id when there is no id column) whichever engine
or worker reads it. Only this module reads input files; pyarrow is imported
inside the functions that need it.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..errors import Errors

PARQUET = "parquet"
JSONL = "jsonl"
SUFFIXES = {".parquet": PARQUET, ".jsonl": JSONL, ".json": JSONL, ".ndjson": JSONL}
# The JSON Lines scan reads this many bytes at a time: the driver's memory
# stays flat however large the file.
SCAN_CHUNK_BYTES = 1 << 20


class AnnotateError(ValueError):
    """A problem with the input, the model or the output of a batch
    annotation run that the user can fix; the command prints it as one line."""


@dataclass(frozen=True)
class Shard:
    """Consecutive rows of one input file: the unit of work of every engine.

    index (int): the shard's number; its output files are named after it.
    path (str): the input file.
    format (str): "parquet" or "jsonl".
    first_row (int): the position of the shard's first row in the whole input.
    n_rows (int): the number of rows.
    start (int): where the rows begin in the file: a row number (Parquet) or a
        byte offset (JSON Lines).
    stop (int): where they end (exclusive), in the same unit.
    start_line (int): JSON Lines: the number of lines (blank ones included)
        before `start` in the file, so that a row's error can name its line;
        0 for Parquet.
    """

    index: int
    path: str
    format: str
    first_row: int
    n_rows: int
    start: int
    stop: int
    start_line: int = 0

    def to_dict(self) -> Dict[str, Any]:
        """RETURNS (Dict[str, Any]): the fields, e.g. to send to a Ray worker."""
        return asdict(self)


@dataclass(frozen=True)
class InputRow:
    """One input row as read: its id, its text, or why it could not be read.

    id (Any): the value of the id column, or the row's position in the input.
    position (int): the row's position in the input (0, 1, ...; counted
        across the files of a folder, blank JSON Lines lines not counted),
        whether or not its id could be read.
    text (Optional[str]): the text; None when `error` is set.
    error (Optional[str]): why the row has no usable text, else None. For
        JSON Lines it ends with the row's line: "(line 7 of texts.jsonl)".
    """

    id: Any
    position: int
    text: Optional[str]
    error: Optional[str] = None


@dataclass(frozen=True)
class InputPlan:
    """The shards of an input and what the rows look like.

    shards (List[Shard]): every row of the input, in order, in shards.
    n_rows (int): the number of rows.
    id_type (Optional[str]): the Arrow type of the output id column, as a
        string ("int64" for positions, "string" for JSON Lines ids, else the
        Parquet column's type).
    """

    shards: List[Shard]
    n_rows: int
    id_type: str


def plan_input(
    path: Path, text_column: str, id_column: Optional[str], shard_size: int
) -> InputPlan:
    """Check an input file or folder and cut it into shards.

    path (Path): a .jsonl/.json/.ndjson or .parquet file, or a folder of such
        files (all of one format, read in name order).
    text_column (str): the column (JSON field) that holds the text.
    id_column (Optional[str]): the column that holds each row's id; None
        numbers the rows from 0 in input order.
    shard_size (int): the most rows per shard.
    RETURNS (InputPlan): the shards, the row count and the id type.
    """
    files, fmt = _input_files(Path(path))
    shards: List[Shard] = []
    n_rows = 0
    for file in files:
        if fmt == PARQUET:
            ranges = _parquet_ranges(file, text_column, id_column, shard_size)
        else:
            _check_jsonl_columns(file, text_column, id_column)
            ranges = _jsonl_ranges(file, shard_size)
        for start, stop, count, start_line in ranges:
            shards.append(
                Shard(len(shards), str(file), fmt, n_rows, count, start, stop, start_line)
            )
            n_rows += count
    if id_column is None:
        id_type = "int64"
    elif fmt == JSONL:
        id_type = "string"
    else:
        id_type = _parquet_id_type(files[0], id_column)
    return InputPlan(shards=shards, n_rows=n_rows, id_type=id_type)


def read_shard(shard: Shard, text_column: str, id_column: Optional[str]) -> Iterator[InputRow]:
    """Read the rows of one shard, in order.

    shard (Shard): the shard.
    text_column (str): the column that holds the text.
    id_column (Optional[str]): the column that holds the id, or None for
        positions.
    YIELDS (InputRow): the rows; one that cannot be read carries an error
        (which, for JSON Lines, names the row's line in the file).
    """
    if shard.format == PARQUET:
        rows = _read_parquet_range(shard, text_column, id_column)
    else:
        rows = _read_jsonl_range(shard, text_column, id_column)
    name = Path(shard.path).name
    for position, (row_id, text, error, line) in enumerate(rows, start=shard.first_row):
        if id_column is None:
            row_id = position
        if error is None and not isinstance(text, str):
            error = f"the value of '{text_column}' is not a text: {text!r}"[:200]
        if error is None and row_id is None:
            error = f"'{id_column}' is missing or null"
        if error is not None and line is not None:
            error = f"{error} (line {line} of {name})"
        yield InputRow(row_id, position, text if error is None else None, error)


# ------------------------------------------------------------------ files


def _input_files(path: Path) -> Tuple[List[Path], str]:
    """The input files and their format; raise GP101 if there are none or
    their formats differ."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise AnnotateError(Errors.GP101.format(path=path, reason="it does not exist"))
    if not files:
        reason = "it holds no .jsonl, .json, .ndjson or .parquet file"
        raise AnnotateError(Errors.GP101.format(path=path, reason=reason))
    formats = {SUFFIXES.get(p.suffix) for p in files}
    if None in formats or len(formats) > 1:
        reason = "give a .jsonl/.json/.ndjson or .parquet file, or a folder of one kind"
        raise AnnotateError(Errors.GP101.format(path=path, reason=reason))
    return files, formats.pop()


# ------------------------------------------------------------------ Parquet


def _parquet_schema(path: Path):
    """The Arrow schema of a Parquet file; raise GP101 if it cannot be read."""
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except (OSError, ValueError) as err:  # pyarrow.ArrowInvalid is a ValueError
        raise AnnotateError(Errors.GP101.format(path=path, reason=first_line(err))) from err


def _parquet_id_type(path: Path, id_column: str) -> str:
    """The Arrow type of a Parquet id column, as a string that
    `pyarrow.type_for_alias` reads back; raise GP111 for other types."""
    import pyarrow as pa

    id_type = str(_parquet_schema(path).field(id_column).type)
    try:
        pa.type_for_alias(id_type)
    except ValueError as err:
        message = Errors.GP111.format(column=id_column, path=path, type=id_type)
        raise AnnotateError(message) from err
    return id_type


def _parquet_ranges(
    path: Path, text_column: str, id_column: Optional[str], shard_size: int
) -> List[Tuple[int, int, int, int]]:
    """(start row, stop row, row count, 0) of each shard of a Parquet file,
    after checking that it has the columns asked for."""
    import pyarrow.parquet as pq

    schema = _parquet_schema(path)
    for column in (text_column, id_column):
        if column is not None and column not in schema.names:
            raise AnnotateError(
                Errors.GP102.format(column=column, path=path, found=", ".join(schema.names))
            )
    n_rows = pq.ParquetFile(path).metadata.num_rows
    return [
        (start, min(start + shard_size, n_rows), min(shard_size, n_rows - start), 0)
        for start in range(0, n_rows, shard_size)
    ]


def _read_parquet_range(
    shard: Shard, text_column: str, id_column: Optional[str]
) -> Iterator[Tuple[Any, Any, Optional[str], None]]:
    """(id, text, None or an error, None) for the rows `start`..`stop` of a
    Parquet file, reading only the row groups they lie in."""
    import pyarrow.parquet as pq

    columns = [text_column] + ([id_column] if id_column is not None else [])
    parquet = pq.ParquetFile(shard.path)
    groups, offset = [], 0
    first = None  # the row number of the first group read
    for i in range(parquet.metadata.num_row_groups):
        size = parquet.metadata.row_group(i).num_rows
        if offset < shard.stop and offset + size > shard.start:
            groups.append(i)
            first = offset if first is None else first
        offset += size
    position = first or 0
    for batch in parquet.iter_batches(row_groups=groups, columns=columns):
        lo = max(shard.start - position, 0)
        hi = min(shard.stop - position, batch.num_rows)
        position += batch.num_rows
        if hi <= lo:
            continue
        texts = batch.column(text_column).slice(lo, hi - lo).to_pylist()
        ids = (
            batch.column(id_column).slice(lo, hi - lo).to_pylist()
            if id_column is not None
            else [None] * len(texts)
        )
        for row_id, text in zip(ids, texts):
            yield row_id, text, None if text is not None else f"'{text_column}' is null", None


# ------------------------------------------------------------------ JSON Lines


def _check_jsonl_columns(path: Path, text_column: str, id_column: Optional[str]) -> None:
    """Raise GP102 if the first row (the first line that is not blank) of a
    JSON Lines file lacks a column asked for, and GP101 if it is not a JSON
    object."""
    try:
        with path.open("rb") as file:
            line = next((line for line in file if not line.isspace()), b"")
    except OSError as err:
        raise AnnotateError(Errors.GP101.format(path=path, reason=first_line(err))) from err
    if not line:
        return  # a file without rows
    try:
        first = json.loads(line)
    except ValueError as err:
        reason = f"its first line is not JSON ({first_line(err)})"
        raise AnnotateError(Errors.GP101.format(path=path, reason=reason)) from err
    if not isinstance(first, dict):
        reason = "its first line is not a JSON object with a text field"
        raise AnnotateError(Errors.GP101.format(path=path, reason=reason))
    for column in (text_column, id_column):
        if column is not None and column not in first:
            found = ", ".join(map(str, first)) or "none"
            raise AnnotateError(Errors.GP102.format(column=column, path=path, found=found))


def _jsonl_ranges(path: Path, shard_size: int) -> List[Tuple[int, int, int, int]]:
    """(start byte, stop byte, row count, lines before start) of each shard
    of a JSON Lines file. Every line that is not blank is a row, a last line
    without a newline too; blank lines (nothing but whitespace) are not rows,
    as for pandas, pyarrow and srsly. Lines are read in pieces of at most
    SCAN_CHUNK_BYTES, so a huge line does not fill the driver's memory."""
    ranges = []
    start = offset = rows = lines = start_line = 0
    blank = True  # the line read so far is only whitespace
    with path.open("rb") as file:
        for piece in iter(lambda: file.readline(SCAN_CHUNK_BYTES), b""):
            offset += len(piece)
            blank = blank and piece.isspace()
            if not piece.endswith(b"\n"):
                continue  # the line goes on in the next piece, or ends the file
            lines += 1
            rows += not blank
            blank = True
            if rows == shard_size:
                ranges.append((start, offset, rows, start_line))
                start, rows, start_line = offset, 0, lines
    rows += not blank  # a last line without a newline
    if rows:
        ranges.append((start, offset, rows, start_line))
    return ranges


def _read_jsonl_range(
    shard: Shard, text_column: str, id_column: Optional[str]
) -> Iterator[Tuple[Any, Any, Optional[str], int]]:
    """(id, text, error, line number) for the rows between two byte offsets
    of a JSON Lines file, skipping blank lines. A line that is not a JSON
    object with the text field gives a row with an error, not an exception."""
    with open(shard.path, "rb") as file:
        file.seek(shard.start)
        remaining = shard.stop - shard.start
        line_number = shard.start_line
        while remaining > 0:
            line = file.readline(remaining)
            if not line:
                return  # the file got shorter: the annotator reports the missing rows
            remaining -= len(line)
            line_number += 1
            if not line.isspace():
                yield (*_parse_jsonl_row(line, text_column, id_column), line_number)


def _parse_jsonl_row(
    line: bytes, text_column: str, id_column: Optional[str]
) -> Tuple[Any, Any, Optional[str]]:
    """(id, text, error) of one JSON Lines row. Ids are written as strings."""
    try:
        row = json.loads(line)
    except ValueError as err:
        return None, None, f"not a JSON line: {first_line(err)}"
    if not isinstance(row, dict):
        return None, None, "not a JSON object"
    row_id = row.get(id_column) if id_column is not None else None
    row_id = str(row_id) if row_id is not None else None
    if text_column not in row:
        return row_id, None, f"no '{text_column}' field"
    if row[text_column] is None:
        return row_id, None, f"'{text_column}' is null"
    return row_id, row[text_column], None


def first_line(err: Exception, limit: int = 300) -> str:
    """The first line of an exception's message (its type if it has none).

    err (Exception): the exception.
    limit (int): the most characters returned.
    RETURNS (str): the line.
    """
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:limit]

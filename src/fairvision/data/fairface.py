"""FairFace's published format: label CSVs plus an image zip (or its extracted folder).

The same reader serves the real FairFace download and the synthetic generator's output,
so the synthetic default exercises exactly the code path a real audit takes. Rows are
validated value by value; a bad row becomes a rejection with a reason, never a crash
and never a silent drop.

Keys (the CSV's `file` column, e.g. ``train/1.jpg``) are untrusted text: only a plain
relative POSIX path under the dataset root is accepted (no absolute path, drive letter,
backslash, ``.``/``..`` or empty part), and in folder mode the resolved real path must
stay under the root, so neither a crafted CSV nor a symlink can make `prepare` read
files outside the dataset. The same rule applies to keys looked up in the zip.

An image's id is its key without the extension of its last part (``train/1.jpg`` ->
``train/1``), as in FairFace and in every manifest written so far (the validation split
is a hash of the id, so changing ids would move images between splits). Two keys that
differ only by extension (``train/1.jpg``, ``train/1.png``) therefore share an id: the
first row wins and the second is rejected with a reason naming the first key.

A zip member is judged by its entry before it is inflated: one that would inflate past
`prepare.max_image_bytes`, or more than ``MAX_ZIP_RATIO`` times its compressed size (no image
format compresses like that; a zip bomb does), is rejected unread, and no read inflates more
than the limit, whatever the entry declares. A member zipfile cannot inflate (bad CRC,
corrupt data, encrypted) is rejected with zipfile's reason.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import zipfile
import zlib
from pathlib import PurePosixPath
from typing import Callable, Iterator

from fairvision.data.source import Candidate, Source
from fairvision.data.storage import Root, UnreadableFile, read_capped
from fairvision.errors import FairvisionError
from fairvision.keys import key_problem
from fairvision.params import ATTRIBUTE_VALUES

CSV_HEADER = ("file", "age", "gender", "race", "service_test")
LABEL_CSVS = {"train": "fairface_label_train.csv", "val": "fairface_label_val.csv"}
SERVICE_TEST_VALUES = ("True", "False")
# FairFace ships train/ and val/; its val is the held-out test split, and our validation
# split is carved from its train.
FAIRFACE_SPLITS = {"train": "train", "val": "test"}
# A member may inflate at most this many times its compressed size once it is over RATIO_FLOOR bytes. JPEG, PNG,
# GIF and WEBP barely shrink in a zip, photos as BMP or TIFF a few times; deflate's ceiling (zeros) is about 1,030.
# Small members are left alone: their headers and flat test images compress far more, and cost nothing to inflate.
MAX_ZIP_RATIO = 100
RATIO_FLOOR = 2**20
# What zipfile raises for a member it cannot inflate (a bad CRC, corrupt deflate data, a truncated or encrypted
# member, an unknown compression method); an S3 read error is an OSError and stays fatal.
MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def zip_name(padding: float) -> str:
    """FairFace ships one zip per crop padding: 0.25 -> margin025, 1.25 -> margin125."""
    return f"fairface-img-margin{round(padding * 100):03d}-trainval.zip"


@dataclasses.dataclass(frozen=True)
class LabelRow:
    """One CSV row with where it came from, so rejections can point at it.

    ``values`` maps the header's names to the row's fields (missing ones as ""), and
    ``field_count`` is how many fields the line really had, so a row with too many or
    too few is rejected instead of being silently truncated or padded.
    """

    csv_name: str
    line: int
    values: dict[str, str]
    field_count: int = len(CSV_HEADER)


def label_csv(root: Root, csv_split: str) -> bytes:
    """The bytes of one label CSV; a missing file is fatal, naming it."""
    name = LABEL_CSVS[csv_split]
    if not root.exists(name):
        raise FairvisionError(
            f"{root.location}/{name}: FairFace label file not found "
            f"(expected {' and '.join(LABEL_CSVS.values())} in {root.location})"
        )
    return root.read(name)


def read_label_rows(name: str, data: bytes) -> Iterator[LabelRow]:
    """Yield the rows of one label CSV (``name`` for messages); a wrong header or non-UTF-8 text is fatal.

    A UTF-8 byte-order mark is skipped and CRLF line endings are accepted, as spreadsheet
    programs write both.
    """
    line = 1
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise FairvisionError(f"{name}: header is {','.join(header)!r}, expected {','.join(CSV_HEADER)!r}")
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue
            padded = fields + [""] * (len(CSV_HEADER) - len(fields))
            yield LabelRow(PurePosixPath(name).name, line, dict(zip(CSV_HEADER, padded)), field_count=len(fields))
    except UnicodeDecodeError as error:
        raise FairvisionError(f"{name}: not UTF-8 text ({error})") from None
    except csv.Error as error:
        raise FairvisionError(f"{name} line {line + 1}: unreadable CSV ({error})") from None


def file_problem(key: str) -> str | None:
    """Why a CSV ``file`` value cannot name an image under the dataset root, or None."""
    problem = key_problem(key)
    return None if problem is None else f"file: {problem}"


def image_id(key: str) -> str:
    """The key without the extension of its last part: ``train/1.jpg`` -> ``train/1``."""
    name_start, dot = key.rfind("/") + 1, key.rfind(".")
    # PurePosixPath's notion of a suffix, without its cost: not a leading dot, not a trailing one
    return key[:dot] if name_start < dot < len(key) - 1 else key


def row_problem(row: LabelRow) -> str | None:
    """Why a row cannot be used, or None when every field is valid."""
    if row.field_count != len(CSV_HEADER) or len(row.values) != len(CSV_HEADER):
        return f"expected {len(CSV_HEADER)} fields ({','.join(CSV_HEADER)}), found {row.field_count}"
    for attribute, allowed in ATTRIBUTE_VALUES.items():
        if row.values[attribute] not in allowed:
            return f"{attribute}: {row.values[attribute]!r} is not one of {', '.join(allowed)}"
    if row.values["service_test"] not in SERVICE_TEST_VALUES:
        return f"service_test: {row.values['service_test']!r} is not True or False"
    return file_problem(row.values["file"])


@contextlib.contextmanager
def fairface_source(root: Root, padding: float, target: str) -> Iterator[Source]:
    """FairFace at ``root`` as a :class:`Source`: one candidate per CSV row, labelled by ``target``.

    FairFace's train is our train (validation is carved from it) and its val is our test.
    """
    metadata = {LABEL_CSVS[csv_split]: label_csv(root, csv_split) for csv_split in FAIRFACE_SPLITS}
    candidates = []
    for csv_split, split in FAIRFACE_SPLITS.items():
        name = LABEL_CSVS[csv_split]
        for row in read_label_rows(f"{root.location}/{name}", metadata[name]):
            problem = row_problem(row)
            candidates.append(Candidate(
                listed_in=row.csv_name, line=row.line, image=row.values["file"], id=image_id(row.values["file"]),
                label=row.values[target], attributes={a: row.values[a] for a in ATTRIBUTE_VALUES}, split=split,
                problem=problem,
            ))
    with _image_reader(root, padding) as (location, read):
        yield Source(location=location, attributes=tuple(ATTRIBUTE_VALUES),
                     splits=frozenset(FAIRFACE_SPLITS.values()), candidates=tuple(candidates),
                     rejected=(), unlabelled=0, metadata=metadata, read=read)


@contextlib.contextmanager
def _image_reader(root: Root, padding: float) -> Iterator[tuple[str, Callable[[str, int], bytes]]]:
    """Read images by key, with a byte limit, from the padding's zip (without extracting it) or extracted folders."""
    archive = zip_name(padding)
    if root.exists(archive):
        with root.open(archive) as handle:
            try:
                bundle = zipfile.ZipFile(handle)
            except (zipfile.BadZipFile, OSError) as error:
                raise FairvisionError(f"{root.location}/{archive}: not a readable zip file ({error})") from None
            with bundle:
                names = set(bundle.namelist())
                location = f"{root.location}/{archive}"
                yield location, functools.partial(_read_member, bundle, names, location)
        return
    if not any(root.is_dir(folder) for folder in FAIRFACE_SPLITS):
        raise FairvisionError(f"{root.location}: neither {archive} nor extracted train/ and val/ folders found")
    yield root.location, root.read


def _read_member(bundle: zipfile.ZipFile, names: set[str], location: str, key: str, max_bytes: int) -> bytes:
    """One image of the zip, judged by its entry before it is inflated (see the module's docstring)."""
    problem = file_problem(key)  # again here, so no caller can bypass the rule
    if problem is not None:
        raise UnreadableFile(location, key, problem)
    if key not in names:
        raise UnreadableFile(location, key, "does not exist")
    entry = bundle.getinfo(key)
    bomb = entry.file_size > MAX_ZIP_RATIO * entry.compress_size
    if bomb and RATIO_FLOOR < entry.file_size <= max_bytes:  # above the limit, read_capped refuses it by its size
        raise UnreadableFile(location, key, (
            f"zip member would inflate {entry.file_size // max(entry.compress_size, 1):,} times "
            f"({entry.compress_size:,} to {entry.file_size:,} bytes), more than an image compresses "
            f"({MAX_ZIP_RATIO} times)"))
    try:
        with bundle.open(entry) as member:
            return read_capped(member, size=entry.file_size, max_bytes=max_bytes, location=location, key=key,
                               what="inflated zip member")
    except MEMBER_ERRORS as error:
        raise UnreadableFile(location, key, f"corrupt zip member ({error})") from None

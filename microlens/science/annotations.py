"""Annotation sheets of the micro-expression datasets -> typed, frozen records.

Recognition sheets (one row a labelled micro-expression clip) give :class:`Annotation`:

- ``casme2``: CASME II ``CASME2-coding-*.xlsx`` (Subject, Filename, OnsetFrame, ApexFrame,
  OffsetFrame, Action Units, Estimated Emotion).
- ``samm``: SAMM ``SAMM_Micro_FACS_Codes_v2.xlsx`` (header rows precede the table).

Spotting sheets (intervals inside long videos) give :class:`SpotAnnotation`:

- ``samm_lv``: SAMM Long Videos ``SAMM_LongVideos_V2_Release.xlsx`` (macro and micro).
- ``casme_sq``: CAS(ME)² ``CASME_sq_code_final.xlsx`` (no header row; its 'naming rule' sheets map
  subject indices and expression names to the raw folder names).

Frame numbers are those of the dataset's frame files. Values a sheet leaves unknown ('/' apex in
CASME II, -1 apex in SAMM-LV, 0 offset in CAS(ME)²) become None. Unreadable workbooks and missing
columns raise :class:`~microlens.errors.DataError` with a one-line message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microlens.errors import DataError

HEADER_SEARCH_ROWS = 40  # header rows (titles, symbol keys) may precede a table


@dataclass(frozen=True)
class Annotation:
    """One labelled micro-expression clip of a recognition dataset."""

    dataset: str  # 'casme2' or 'samm'
    subject: str  # as the raw folder is named: 'sub01' (CASME II), '006' (SAMM)
    episode: str  # clip folder name: 'EP02_01f' (CASME II), '006_1_2' (SAMM)
    onset: int  # onset frame number (as in the frame file names)
    apex: int | None  # apex frame number; None where the sheet has none (e.g. '/')
    offset: int | None  # offset frame number; None where unknown
    action_units: str  # FACS code as written, e.g. '4+L10' ('' when empty)
    emotion: str  # lower-case estimated emotion, e.g. 'happiness', 'others'
    objective_class: int | None = None  # SAMM objective class 1..7; None for CASME II

    @property
    def sample_id(self) -> str:
        """Unique id used for file names in a prepared dataset: ``<dataset>_<subject>_<episode>``."""
        return f"{self.dataset}_{self.subject}_{self.episode}"


@dataclass(frozen=True)
class SpotAnnotation:
    """One annotated expression interval inside a long video (for spotting)."""

    dataset: str  # 'samm_lv' or 'casme_sq'
    subject: str  # 's15' (CAS(ME)²), '006' (SAMM-LV)
    video: str  # long video: '15_0101' (CAS(ME)² folder prefix), '006_1' (SAMM-LV)
    name: str  # the sheet's name of the interval: 'anger1_1', '006_1_2'
    onset: int  # onset frame
    apex: int | None  # apex frame; None where not annotated
    offset: int | None  # offset frame; None where not annotated
    kind: str  # 'micro' or 'macro'
    action_units: str  # FACS code as written ('' when empty or NULL)
    emotion: str  # lower-case emotion where the sheet gives one, else ''


# ---------------------------------------------------------------------------------------------
# Reading sheets


def _open_rows(path: str | Path, sheet: str | int = 0) -> list[tuple[Any, ...]]:
    """All rows (values only) of one sheet of an xlsx workbook, or DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotation file not found: {path}")
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - zip, xml and format errors all mean "not a workbook"
        raise DataError(f"cannot read {path} as an xlsx workbook ({type(e).__name__}: {e})") from None
    try:
        if isinstance(sheet, int):
            if sheet >= len(wb.worksheets):
                raise DataError(f"{path} has no worksheet #{sheet}")
            ws = wb.worksheets[sheet]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise DataError(f"{path} has no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})")
        return [tuple(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _norm(name: Any) -> str:
    """Header text -> comparison key: lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower()) if name is not None else ""


def _find_table(rows: Sequence[tuple[Any, ...]], columns: dict[str, tuple[str, ...]],
                where: str) -> tuple[int, dict[str, int]]:
    """Locate the header row holding every column (field -> accepted header spellings).

    Returns the header row index and field -> column index; DataError naming the missing columns.
    """
    best: tuple[int, set[str]] = (-1, set(columns))
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = [_norm(c) for c in row]
        found: dict[str, int] = {}
        for fieldname, names in columns.items():
            for name in names:
                if _norm(name) in keys:
                    found[fieldname] = keys.index(_norm(name))
                    break
        if len(found) == len(columns):
            return i, found
        missing = set(columns) - set(found)
        if len(missing) < len(best[1]):
            best = (i, missing)
    wanted = ", ".join(columns[f][0] for f in columns if f in best[1])
    if best[0] < 0:
        raise DataError(f"{where}: no table header found in the first {HEADER_SEARCH_ROWS} rows "
                        f"(need columns {', '.join(c[0] for c in columns.values())})")
    raise DataError(f"{where}: missing column(s) {wanted} (best header candidate: row {best[0] + 1})")


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _frame(v: Any, *, unknown: tuple[int, ...] = ()) -> int | None:
    """A frame cell -> int; None for blanks, non-numbers ('/', '?') and ``unknown`` sentinels.

    Fractional frames (SAMM-LV macro rows) are rounded to the nearest frame."""
    if _blank(v) or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        n = int(round(float(v)))
    else:
        try:
            n = int(round(float(str(v).strip())))
        except ValueError:
            return None
    return None if n in unknown else n


def _text(v: Any) -> str:
    """A cell as stripped text; ints stay ints ('12'), floats that are whole lose '.0'."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return "" if s.upper() == "NULL" else s


def _onset(v: Any, where: str, row: int) -> int:
    n = _frame(v)
    if n is None:
        raise DataError(f"{where} row {row}: onset {v!r} is not a frame number")
    return n


EMOTION_SPELLINGS = {"other": "others", "happyiness": "happiness", "happy": "happiness"}


def _emotion(v: Any) -> str:
    """Lower-case emotion with the sheets' spelling variants unified ('Other' -> 'others')."""
    e = _text(v).lower()
    return EMOTION_SPELLINGS.get(e, e)


# ---------------------------------------------------------------------------------------------
# Recognition sheets

CASME2_COLUMNS = {
    "subject": ("Subject",),
    "episode": ("Filename",),
    "onset": ("OnsetFrame", "Onset Frame"),
    "apex": ("ApexFrame", "Apex Frame"),
    "offset": ("OffsetFrame", "Offset Frame"),
    "aus": ("Action Units", "AU"),
    "emotion": ("Estimated Emotion", "Emotion"),
}

SAMM_COLUMNS = {
    "subject": ("Subject",),
    "episode": ("Filename",),
    "onset": ("Onset Frame", "Onset"),
    "apex": ("Apex Frame", "Apex"),
    "offset": ("Offset Frame", "Offset"),
    "aus": ("Action Units",),
    "emotion": ("Estimated Emotion", "Emotion"),
}


def parse_casme2(path: str | Path) -> list[Annotation]:
    """CASME II coding sheet -> one Annotation per clip (subject '01' becomes 'sub01')."""
    where = Path(path).name
    rows = _open_rows(path)
    head, col = _find_table(rows, CASME2_COLUMNS, where)
    out = []
    for i, r in enumerate(rows[head + 1:], start=head + 2):
        r = r + (None,) * (max(col.values()) + 1 - len(r))
        if _blank(r[col["subject"]]) and _blank(r[col["episode"]]):
            continue
        subj = _text(r[col["subject"]])
        subj = subj if subj.lower().startswith("sub") else f"sub{subj.zfill(2)}"
        out.append(Annotation(
            dataset="casme2", subject=subj, episode=_text(r[col["episode"]]),
            onset=_onset(r[col["onset"]], where, i), apex=_frame(r[col["apex"]]),
            offset=_frame(r[col["offset"]]), action_units=_text(r[col["aus"]]),
            emotion=_emotion(r[col["emotion"]]),
        ))
    if not out:
        raise DataError(f"{where}: the table has no rows")
    return out


def parse_samm(path: str | Path) -> list[Annotation]:
    """SAMM micro-movement FACS sheet -> one Annotation per clip (subject '006', episode '006_1_2')."""
    where = Path(path).name
    rows = _open_rows(path)
    head, col = _find_table(rows, SAMM_COLUMNS, where)
    obj = next((j for j, c in enumerate(rows[head]) if _norm(c) == "objectiveclasses"), None)
    out = []
    for i, r in enumerate(rows[head + 1:], start=head + 2):
        r = r + (None,) * (max([*col.values(), obj or 0]) + 1 - len(r))
        if _blank(r[col["subject"]]) and _blank(r[col["episode"]]):
            continue
        out.append(Annotation(
            dataset="samm", subject=_text(r[col["subject"]]).zfill(3), episode=_text(r[col["episode"]]),
            onset=_onset(r[col["onset"]], where, i), apex=_frame(r[col["apex"]], unknown=(-1,)),
            offset=_frame(r[col["offset"]], unknown=(-1,)), action_units=_text(r[col["aus"]]),
            emotion=_emotion(r[col["emotion"]]),
            objective_class=_frame(r[obj]) if obj is not None else None,
        ))
    if not out:
        raise DataError(f"{where}: the table has no rows")
    return out


# ---------------------------------------------------------------------------------------------
# Spotting sheets

SAMM_LV_COLUMNS = {
    "subject": ("Subject",),
    "name": ("Filename",),
    "onset": ("Onset", "Onset Frame"),
    "apex": ("Apex", "Apex Frame"),
    "offset": ("Offset", "Offset Frame"),
    "type": ("Type",),
    "aus": ("Action Units",),
}


def _kind(v: Any) -> str:
    """'Micro - 1/2', 'micro-expression' -> 'micro'; 'Macro', 'macro-expression' -> 'macro'."""
    t = _text(v).lower()
    return "micro" if t.startswith("micro") else "macro" if t.startswith("macro") else t


def parse_samm_lv(path: str | Path) -> list[SpotAnnotation]:
    """SAMM Long Videos sheet -> one SpotAnnotation per macro or micro interval.

    The long video is the interval name without its last part ('006_1_2' -> '006_1'); apex -1
    (not annotated) becomes None; fractional frames are rounded."""
    where = Path(path).name
    rows = _open_rows(path)
    head, col = _find_table(rows, SAMM_LV_COLUMNS, where)
    out = []
    for i, r in enumerate(rows[head + 1:], start=head + 2):
        r = r + (None,) * (max(col.values()) + 1 - len(r))
        if _blank(r[col["subject"]]) and _blank(r[col["name"]]):
            continue
        name = _text(r[col["name"]])
        out.append(SpotAnnotation(
            dataset="samm_lv", subject=_text(r[col["subject"]]).zfill(3), video=name.rsplit("_", 1)[0],
            name=name, onset=_onset(r[col["onset"]], where, i),
            apex=_frame(r[col["apex"]], unknown=(-1,)), offset=_frame(r[col["offset"]], unknown=(-1,)),
            kind=_kind(r[col["type"]]), action_units=_text(r[col["aus"]]), emotion="",
        ))
    if not out:
        raise DataError(f"{where}: the table has no rows")
    return out


CASME_SQ_SHEET = "CASFEcode_final"
# positional columns of the header-less CAS(ME)² sheet
CASME_SQ_COLUMNS = ("subject index", "name", "onset", "apex", "offset", "action units",
                    "emotion class", "type", "emotion")


def _casme_sq_maps(path: str | Path) -> tuple[dict[int, int], dict[str, str]]:
    """The 'naming rule' sheets: subject index -> subject number, 'anger1' -> video code '0401'."""
    subjects: dict[int, int] = {}
    codes: dict[str, str] = {}
    try:
        for r in _open_rows(path, "naming rule1"):
            if len(r) >= 3 and isinstance(r[0], int | float) and isinstance(r[2], int | float):
                subjects[int(r[2])] = int(r[0])
        for r in _open_rows(path, "naming rule2"):
            if len(r) >= 2 and not _blank(r[0]) and not _blank(r[1]):
                codes[_text(r[1]).lower()] = _text(r[0]).zfill(4)
    except DataError:
        pass  # without the naming sheets, the sheet's own index and names are kept
    return subjects, codes


def parse_casme_sq(path: str | Path) -> list[SpotAnnotation]:
    """CAS(ME)² code sheet -> one SpotAnnotation per macro or micro interval.

    Subjects become the raw folder names ('s15') and videos their folder prefix ('15_0101') via the
    workbook's 'naming rule' sheets; a 0 apex or offset (not annotated) becomes None."""
    where = Path(path).name
    rows = _open_rows(path, CASME_SQ_SHEET)
    subjects, codes = _casme_sq_maps(path)
    out = []
    for i, r in enumerate(rows, start=1):
        if all(_blank(v) for v in r):
            continue
        if len(r) < len(CASME_SQ_COLUMNS):
            raise DataError(f"{where} row {i}: {len(r)} columns, expected {len(CASME_SQ_COLUMNS)} "
                            f"({', '.join(CASME_SQ_COLUMNS)})")
        index = _frame(r[0])
        if index is None:
            if i == 1:
                continue  # a header row someone added
            raise DataError(f"{where} row {i}: subject index {r[0]!r} is not a number")
        number = subjects.get(index)
        subject = f"s{number}" if number is not None else str(index)
        name = _text(r[1])
        code = codes.get(name.rsplit("_", 1)[0].lower())
        video = f"{number}_{code}" if number is not None and code else name.rsplit("_", 1)[0]
        out.append(SpotAnnotation(
            dataset="casme_sq", subject=subject, video=video, name=name,
            onset=_onset(r[2], where, i), apex=_frame(r[3], unknown=(0,)), offset=_frame(r[4], unknown=(0,)),
            kind=_kind(r[7]), action_units=_text(r[5]), emotion=_emotion(r[8]),
        ))
    if not out:
        raise DataError(f"{where}: the sheet has no rows")
    return out


PARSERS: dict[str, Callable[[str | Path], list[Annotation]]] = {
    "casme2": parse_casme2,
    "samm": parse_samm,
}

SPOT_PARSERS: dict[str, Callable[[str | Path], list[SpotAnnotation]]] = {
    "samm_lv": parse_samm_lv,
    "casme_sq": parse_casme_sq,
}


def load(dataset: str, path: str | Path) -> list[Annotation]:
    """Parse a recognition sheet of ``dataset`` (a key of PARSERS)."""
    try:
        parser = PARSERS[dataset]
    except KeyError:
        raise DataError(f"no annotation parser for {dataset!r}; known: {', '.join(PARSERS)}") from None
    return parser(path)


def load_spotting(dataset: str, path: str | Path) -> list[SpotAnnotation]:
    """Parse a spotting sheet of ``dataset`` (a key of SPOT_PARSERS)."""
    try:
        parser = SPOT_PARSERS[dataset]
    except KeyError:
        raise DataError(f"no spotting parser for {dataset!r}; known: {', '.join(SPOT_PARSERS)}") from None
    return parser(path)

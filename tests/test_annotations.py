"""Annotation-sheet parsers: the real sheets in ../shared (skipped where absent) and tiny workbooks
written here, which run everywhere."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from microlens.errors import DataError
from microlens.science.annotations import (
    PARSERS,
    SPOT_PARSERS,
    Annotation,
    SpotAnnotation,
    load,
    load_spotting,
    parse_casme2,
    parse_casme_sq,
    parse_samm,
    parse_samm_lv,
)


def write_xlsx(path: Path, rows: list[list], sheet: str = "Sheet1",
               extra: dict[str, list[list]] | None = None) -> Path:
    """A workbook with ``rows`` in its first sheet and optional further sheets."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    for name, more in (extra or {}).items():
        w = wb.create_sheet(name)
        for r in more:
            w.append(r)
    wb.save(path)
    return path


CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion"]


# ---------------------------------------------------------------------------------------------
# tiny workbooks (run everywhere)


def test_casme2_tiny(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "c.xlsx", [
        CASME2_HEADER,
        ["01", "EP02_01f", None, 46, 59, 86, None, 12, "happiness"],
        ["04", "EP12_01f", None, 261, "/", 321, None, "4+7", "Disgust"],
        [None] * 9,
        ["sub17", "EP01_02", None, "31", 40.0, None, None, None, "others"],
    ])
    rows = parse_casme2(p)
    assert rows == [
        Annotation("casme2", "sub01", "EP02_01f", 46, 59, 86, "12", "happiness"),
        Annotation("casme2", "sub04", "EP12_01f", 261, None, 321, "4+7", "disgust"),
        Annotation("casme2", "sub17", "EP01_02", 31, 40, None, "", "others"),
    ]
    assert rows[0].sample_id == "casme2_sub01_EP02_01f"
    assert load("casme2", p) == rows


def test_samm_tiny_with_header_rows(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "s.xlsx", [
        ["SAMM Dataset - Master FACS Codes"], [], ["Symbol Key:"], ['"/" = or'], [],
        ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
         "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"],
        ["006", "006_1_2", 1, 5562, 5588, 5632, 71, "Micro - 1/2", "4+7", "Anger", 3, None],
        [7, "007_3_1", 3, 100, -1, 140, 41, "Micro - 1/2", 12, "Other", 7, "x"],
    ])
    rows = parse_samm(p)
    assert rows[0] == Annotation("samm", "006", "006_1_2", 5562, 5588, 5632, "4+7", "anger", 3)
    assert rows[1].subject == "007" and rows[1].apex is None and rows[1].emotion == "others"
    assert rows[1].action_units == "12" and rows[1].objective_class == 7


def test_samm_lv_tiny(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "lv.xlsx", [
        ["SAMM Long Videos Dataset - FACS Codes"], [],
        ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
         "Action Units", "Notes"],
        ["006", "006_1_1", 1, 566.4, 647.6, 743.2, 177.8, "Macro", "4(B/C)+7B", None],
        ["006", "006_1_2", 1, 3562, -1, 3632, 71, "Micro - 1/2", "4+7", None],
    ])
    rows = parse_samm_lv(p)
    assert rows == [
        SpotAnnotation("samm_lv", "006", "006_1", "006_1_1", 566, 648, 743, "macro", "4(B/C)+7B", ""),
        SpotAnnotation("samm_lv", "006", "006_1", "006_1_2", 3562, None, 3632, "micro", "4+7", ""),
    ]
    assert load_spotting("samm_lv", p) == rows


def test_casme_sq_tiny_with_naming_sheets(tmp_path: Path) -> None:
    body = [
        [1, "anger1_1", 557, 572, 608, "4+10+14+15", "negative", "macro-expression", "anger"],
        [2, "happy1_2", 178, 190, 0, 12, "positive", "micro-expression", "happyiness"],
    ]
    p = write_xlsx(tmp_path / "sq.xlsx", body, sheet="CASFEcode_final", extra={
        "naming rule1": [[15, "s15", 1], [16, "s16", 2]],
        "naming rule2": [["0401", "anger1"], ["0502", "happy1"]],
    })
    rows = parse_casme_sq(p)
    assert rows == [
        SpotAnnotation("casme_sq", "s15", "15_0401", "anger1_1", 557, 572, 608, "macro", "4+10+14+15",
                       "anger"),
        SpotAnnotation("casme_sq", "s16", "16_0502", "happy1_2", 178, 190, None, "micro", "12", "happiness"),
    ]
    # without the naming sheets the sheet's own index and names are kept
    q = write_xlsx(tmp_path / "sq2.xlsx", body, sheet="CASFEcode_final")
    assert [(r.subject, r.video) for r in parse_casme_sq(q)] == [("1", "anger1"), ("2", "happy1")]


def test_parser_registries() -> None:
    assert set(PARSERS) == {"casme2", "samm"}
    assert set(SPOT_PARSERS) == {"samm_lv", "casme_sq"}
    with pytest.raises(DataError, match="no annotation parser"):
        load("smic", "x.xlsx")


@pytest.mark.parametrize("parser", [parse_casme2, parse_samm, parse_samm_lv, parse_casme_sq])
def test_missing_file(parser, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        parser(tmp_path / "nope.xlsx")


@pytest.mark.parametrize("parser", [parse_casme2, parse_samm, parse_samm_lv, parse_casme_sq])
def test_not_a_workbook(parser, tmp_path: Path) -> None:
    p = tmp_path / "broken.xlsx"
    p.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match="cannot read .* as an xlsx workbook") as e:
        parser(p)
    assert "\n" not in str(e.value)


def test_missing_columns_named(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "c.xlsx", [
        ["Subject", "Filename", "OnsetFrame", "OffsetFrame", "Estimated Emotion"],
        ["01", "EP02_01f", 46, 86, "happiness"],
    ])
    with pytest.raises(DataError, match=r"missing column\(s\) ApexFrame, Action Units"):
        parse_casme2(p)
    q = write_xlsx(tmp_path / "empty.xlsx", [["just", "some", "text"]])
    with pytest.raises(DataError, match="no table header"):
        parse_samm(q)


def test_bad_onset_names_row(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "c.xlsx", [
        CASME2_HEADER,
        ["01", "EP02_01f", None, 46, 59, 86, None, 12, "happiness"],
        ["01", "EP02_02", None, "soon", 59, 86, None, 12, "happiness"],
    ])
    with pytest.raises(DataError, match="row 3: onset 'soon'"):
        parse_casme2(p)


def test_header_only_sheet(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "c.xlsx", [CASME2_HEADER])
    with pytest.raises(DataError, match="no rows"):
        parse_casme2(p)


def test_casme_sq_missing_sheet(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path / "sq.xlsx", [[1, "a_1", 1, 2, 3, 4, "x", "micro", "y"]], sheet="Other")
    with pytest.raises(DataError, match="no sheet 'CASFEcode_final'"):
        parse_casme_sq(p)


# ---------------------------------------------------------------------------------------------
# the real sheets


def test_real_casme2(shared_data: Path) -> None:
    rows = parse_casme2(shared_data / "annotations" / "CASME2-coding-20140508.xlsx")
    assert len(rows) == 255
    assert len({r.subject for r in rows}) == 26
    assert Counter(r.emotion for r in rows) == {
        "others": 99, "disgust": 63, "happiness": 32, "repression": 27, "surprise": 25, "sadness": 7,
        "fear": 2}
    assert rows[0] == Annotation("casme2", "sub01", "EP02_01f", 46, 59, 86, "12", "happiness")
    by_id = {r.sample_id: r for r in rows}
    assert by_id["casme2_sub01_EP19_05f"].action_units == "4+L10"
    assert by_id["casme2_sub04_EP12_01f"].apex is None  # '/' in the sheet
    assert len(by_id) == len(rows)  # sample ids are unique


def test_real_casme2_matches_shared_manifest(shared_data: Path) -> None:
    """Every CASME II sample of the shared composite has the same frames and AUs in the sheet."""
    import csv

    rows = {r.sample_id: r for r in parse_casme2(shared_data / "annotations" / "CASME2-coding-20140508.xlsx")}
    with open(shared_data / "megc2019" / "manifest.csv", newline="") as f:
        manifest = [m for m in csv.DictReader(f) if m["dataset"] == "casme2"]
    assert len(manifest) == 145
    for m in manifest:
        a = rows[m["sample_id"]]
        frames = (int(m["onset_frame"]), int(m["apex_frame"]), int(m["offset_frame"]))
        assert (a.onset, a.apex, a.offset) == frames
        assert (a.emotion, a.action_units) == (m["emotion"], m["action_units"])


def test_real_samm(shared_data: Path) -> None:
    rows = parse_samm(shared_data / "annotations" / "SAMM_Micro_FACS_Codes_v2.xlsx")
    assert len(rows) == 159
    assert len({r.subject for r in rows}) == 29
    assert rows[0] == Annotation("samm", "006", "006_1_2", 5562, 5588, 5632, "4+7", "anger", 3)
    assert Counter(r.emotion for r in rows)["others"] == 26
    # the sheet is kept as written, oddities included (prepare treats an apex before onset as unknown)
    odd = {r.episode for r in rows if r.apex is None or not r.onset <= r.apex <= (r.offset or r.apex)}
    assert odd == {"032_3_1", "028_4_1"}  # apex 1930 before onset 4896; apex 1143 after offset 1134


def test_real_samm_lv(shared_data: Path) -> None:
    rows = parse_samm_lv(shared_data / "annotations" / "SAMM_LongVideos_V2_Release.xlsx")
    assert len(rows) == 502
    assert Counter(r.kind for r in rows) == {"macro": 343, "micro": 159}
    assert rows[0] == SpotAnnotation("samm_lv", "006", "006_1", "006_1_1", 566, 648, 743, "macro",
                                     "4(B/C)+7B", "")
    assert sum(r.apex is None for r in rows) == 6  # apex -1: not annotated
    assert len({r.video for r in rows}) == 147  # the paper's 147 long videos


def test_real_casme_sq(shared_data: Path) -> None:
    rows = parse_casme_sq(shared_data / "annotations" / "CASME_sq_code_final.xlsx")
    assert len(rows) == 357
    assert Counter(r.kind for r in rows) == {"macro": 300, "micro": 57}
    assert rows[0] == SpotAnnotation("casme_sq", "s15", "15_0401", "anger1_1", 557, 572, 608, "macro",
                                     "4+10+14+15", "anger")
    assert len({r.subject for r in rows}) == 22
    assert sum(r.offset is None for r in rows) == 44  # offset 0: not annotated
    assert "happyiness" not in {r.emotion for r in rows}

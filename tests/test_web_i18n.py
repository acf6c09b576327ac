"""Korean on the results page beyond the marked strings: phrases the report carries in English and
the page shows (the analysed face, ``face.chosen``) are translated too.

The catalogue test (test_web.py::test_every_page_string_has_a_korean_translation) checks the strings
marked in microlens/web; "the only face" slipped past it because it is made outside the web package
(microlens.face.mesh.describe_choice), stored in the report and shown by the page script as it is.
Here every phrase describe_choice can make must come out in Korean."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_web import make_app

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def every_face_choice() -> list[str]:
    from microlens.face.mesh import MAX_FACES, PICKERS, describe_choice

    choices = [*PICKERS, "0", "1", "3"]
    return sorted({describe_choice(c, n) for c in choices for n in range(0, MAX_FACES + 2)})


@pytest.fixture()
def app(tmp_path: Path) -> Any:
    return make_app(tmp_path)


def test_every_face_choice_phrase_is_translated(app: Any) -> None:
    from microlens.web.pages import face_choice

    phrases = every_face_choice()
    assert "the only face" in phrases and len(phrases) >= 5
    with app.test_request_context("/", headers={"Accept-Language": "ko"}):
        korean = {p: face_choice(p) for p in phrases}
    untranslated = [p for p, k in korean.items() if not HANGUL.search(k)]
    assert not untranslated, untranslated
    assert korean["the only face"] == "유일한 얼굴"
    assert korean["largest of 2 faces"] == "얼굴 2개 중 가장 큰 얼굴"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert {p: face_choice(p) for p in phrases} == {p: p for p in phrases}  # English as it is


def test_results_page_script_gets_the_face_choice_patterns(app: Any) -> None:
    """The page script matches face.chosen with the patterns it is given (JavaScript syntax) and
    fills in the translated words."""
    html = app.test_client().get("/webcam", headers={"Accept-Language": "ko"}).data.decode()
    found = re.search(r'<script type="application/json" id="strings">(.*?)</script>', html, re.S)
    assert found is not None
    choices = json.loads(found[1])["face_choices"]
    assert ["^the only face$", "유일한 얼굴"] in choices
    for pattern, words in choices:
        assert "(?P<" not in pattern and HANGUL.search(words)
        py = re.compile(pattern.replace("(?<", "(?P<"))
        assert set(re.findall(r"%\((\w+)\)s", words)) == set(py.groupindex)
    for phrase in every_face_choice():
        assert sum(bool(re.match(p.replace("(?<", "(?P<"), phrase)) for p, _ in choices) == 1, phrase

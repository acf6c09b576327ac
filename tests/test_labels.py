"""Label sets, MEGC mapping, emoji and the per-filter drop counts."""

from __future__ import annotations

import pytest

from microlens.errors import UsageError
from microlens.labels import EMOJI, LABEL_SETS, emoji, label_of, resolve, select


def test_named_and_custom_sets():
    assert resolve("casme2") == ("happiness", "surprise", "disgust", "repression", "sadness")
    assert resolve("megc3") == ("negative", "positive", "surprise")
    assert resolve("Happiness, surprise") == ("happiness", "surprise")
    for bad in ("foo", "a", "a,a"):
        with pytest.raises(UsageError):
            resolve(bad)


def test_megc_mapping():
    megc = LABEL_SETS["megc3"]
    assert label_of("happiness", "", megc) == ("positive", "")
    assert label_of("repression", "", megc) == ("negative", "")
    assert label_of("fear", "", megc) == (None, "fear")
    assert label_of("others", "", megc) == (None, "others")
    assert label_of("", "surprise", megc) == ("surprise", "")  # SMIC rows have only the class


def test_select_counts_each_filter():
    emotions = ["happiness", "others", "fear", "disgust", "", "contempt", "surprise"]
    classes = ["positive", "", "negative", "negative", "negative", "negative", "surprise"]
    sel = select(emotions, classes, LABEL_SETS["casme2"])
    # sadness and repression have no samples here: dropped with a note
    assert sel.labels == ("happiness", "surprise", "disgust")
    assert any(n.startswith("sadness") for n in sel.notes)
    assert sel.dropped == {"others": 1, "fear": 1, "no fine emotion": 1, "not in label set": 1}
    assert sel.indices.tolist() == [0, 3, 6]
    assert [sel.labels[t] for t in sel.targets] == ["happiness", "disgust", "surprise"]
    assert sel.counts() == {"happiness": 1, "surprise": 1, "disgust": 1}
    # sadness stays when the data has it
    assert "sadness" in select(["sadness", "happiness"], ["", ""], LABEL_SETS["casme2"]).labels
    # evaluation keeps the model's full label set
    assert select(emotions, classes, LABEL_SETS["casme2"], drop_empty=False).labels == LABEL_SETS["casme2"]


def test_emoji():
    for labels in LABEL_SETS.values():
        for lab in labels:
            assert lab in EMOJI
    assert emoji("unknown-thing") == "❔"

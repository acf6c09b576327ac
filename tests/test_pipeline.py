"""The tracking pass's stage pipeline (microlens.pipeline.run_stages): threaded and sequential runs
give the same items in the same order; a failing stage, a failing source and a consumer that leaves
early stop every thread, and the error reaches the caller without a hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from microlens.pipeline import QUEUE_SIZE, Timer, run_stages


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("microlens-")]


def _groups(seen: list[int]) -> list[list[tuple[str, object]]]:
    """Three stateful stages: each keeps a running total, so order matters."""
    state = {"a": 0, "b": 0}

    def add(x: int) -> tuple[int, int]:
        state["a"] += x
        return x, state["a"]

    def mul(t: tuple[int, int]) -> tuple[int, int, int]:
        state["b"] = state["b"] * 3 + t[1]
        return t[0], t[1], state["b"]

    def keep(t: tuple[int, int, int]) -> tuple[int, int, int]:
        seen.append(t[0])
        return t

    return [[("add", add)], [("mul", mul), ("keep", keep)]]


@pytest.mark.parametrize("n", [0, 1, 5, 200])
def test_threads_give_the_sequential_results(n: int) -> None:
    runs = {}
    for threads in (False, True):
        seen: list[int] = []
        timer = Timer()
        runs[threads] = (list(run_stages(iter(range(n)), _groups(seen), timer, threads)), seen)
        assert seen == list(range(n))
        assert set(timer.s) >= ({"decode", "add", "mul", "keep"} if n else {"decode"})
    assert runs[True] == runs[False]
    assert _threads() == []


def test_failing_stage_is_raised_and_threads_end() -> None:
    def boom(x: int) -> int:
        if x == 30:
            raise ValueError("stage failed at 30")
        return x

    got = []
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="stage failed at 30"):
        for x in run_stages(iter(range(10_000)), [[("ok", lambda x: x)], [("boom", boom)]], Timer()):
            got.append(x)
    assert got == list(range(30)) and time.monotonic() - t0 < 10
    assert _threads() == []


def test_failing_source_is_raised() -> None:
    def source() -> Iterator[int]:
        yield from range(5)
        raise OSError("the file went away")

    with pytest.raises(OSError, match="went away"):
        list(run_stages(source(), [[("id", lambda x: x)]], Timer()))
    assert _threads() == []


def test_consumer_leaving_early_stops_the_threads() -> None:
    """A consumer that stops (cancel) while the source could go on for ever: the threads, blocked
    on full queues, end when the generator is closed; memory stays bounded by the queues."""
    made = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            made.append(i)
            yield i
            i += 1

    pipe = run_stages(endless(), [[("a", lambda x: x)], [("b", lambda x: x)]], Timer())
    for x in pipe:
        if x == 3:
            break
    time.sleep(0.2)  # let the threads fill their queues
    pipe.close()
    assert _threads() == []
    assert len(made) <= 4 + 3 * (QUEUE_SIZE + 1) + 3  # bounded: queues plus one item per thread

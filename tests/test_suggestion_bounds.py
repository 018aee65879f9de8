"""`did_you_mean` does bounded work per call and per model build, however many names exist."""

from __future__ import annotations

import difflib

import pytest

from incept_dsl import errors
from incept_dsl.errors import did_you_mean


def test_each_call_scores_a_bounded_number_of_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    scored: list[int] = []
    real = difflib.get_close_matches

    def counting(word: str, pool: list[str], n: int, cutoff: float) -> list[str]:
        scored.append(len(pool))
        return real(word, pool, n=n, cutoff=cutoff)

    monkeypatch.setattr(errors.difflib, "get_close_matches", counting)
    errors.reset_suggestion_budget()
    names = [f"blk{i}" for i in range(20_000)]
    assert did_you_mean("blkx1234", names) is not None
    assert did_you_mean("relx", ["relu", "conv"]) == "did you mean 'relu'?"
    assert max(scored) <= errors.MAX_SUGGESTION_CANDIDATES


def test_suggestions_stop_when_the_budget_is_spent() -> None:
    errors.reset_suggestion_budget()
    names = [f"blk{i}" for i in range(20_000)]
    made = sum(did_you_mean(f"blk{i}", names) is not None for i in range(errors.SUGGESTION_BUDGET))
    assert made == errors.SUGGESTION_BUDGET // 20_000
    assert not errors.suggestions_left()
    errors.reset_suggestion_budget()
    assert errors.suggestions_left()

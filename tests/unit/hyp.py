"""Hypothesis example counts: the tests' own numbers, or a few when INQ_MUTATE is set
(`make mutate` runs the fast tests once per mutant, hundreds of times)."""
import os


def examples(n: int) -> int:
    return min(n, 12) if os.environ.get("INQ_MUTATE") else n

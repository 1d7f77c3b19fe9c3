"""docs/MUTATION.md from the per-module results (scripts/mutation_report.py), without mutmut runs."""
import json
import os
import sqlite3
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import mutation_report as mr  # noqa: E402

SOURCE = "_CHUNK = 1 << 17  # elements per chunk\n\n\ndef f(a):\n    return a + 1\n"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A kept-results folder and module sources of our own."""
    (tmp_path / "kept").mkdir()
    monkeypatch.setattr(mr, "KEPT", str(tmp_path / "kept"))
    (tmp_path / "state").mkdir()
    monkeypatch.setattr(mr, "STATE", str(tmp_path / "state"))
    monkeypatch.setattr(mr, "source_path", lambda m: str(tmp_path / f"{m}.py"))
    for m in mr.MODULES:
        (tmp_path / f"{m}.py").write_text(SOURCE)
    return tmp_path


def _keep(tree, result):
    (tree / "kept" / f"{result['module']}.json").write_text(json.dumps(result))


def _result(mod, source=SOURCE, survivors=()):
    return {"module": mod, "rev": "abc1234", "source_sha256": mr.sha256(source),
            "counts": {"ok_killed": 10, "bad_survived": len(survivors)}, "survivors": list(survivors)}


def test_the_committed_doc_is_the_rendering_of_the_kept_results():
    lines, unexplained = mr.render()
    with open(os.path.join(ROOT, "docs", "MUTATION.md")) as f:
        assert f.read() == "\n".join(lines).rstrip() + "\n", "run scripts/mutation_report.py"
    assert unexplained == 0


def test_only_modules_whose_source_is_unchanged_count(tree):
    chunk = {"line": 1, "original": "_CHUNK = 1 << 17  # elements per chunk",
             "mutated": "_CHUNK = 1 << 18  # elements per chunk", "status": "bad_survived"}
    plus = {"line": 5, "original": "    return a + 1", "mutated": "    return a - 1", "status": "bad_survived"}
    _keep(tree, _result("levels", survivors=[chunk]))
    _keep(tree, _result("quantize", survivors=[plus]))
    _keep(tree, _result("passes", source="old source\n", survivors=[plus]))  # changed since its run
    lines, unexplained = mr.render()
    text = "\n".join(lines)
    assert "Score over 2 of 9 modules: 20 of 22 mutants detected" in text
    assert "1 survivors are equivalent (reasons below), 1 unexplained" in text
    assert "| levels.py | abc1234 | 11 | 10 | 0 | 1 | 0 |" in text and "| passes.py |" not in text
    assert "passes.py (measured at abc1234: 11 mutants, 1 survived)" in text and "n1_choice.py (never run)" in text
    assert "**levels.py line 1** (bad_survived): equivalent: the chunk size" in text
    assert "**quantize.py line 5** (bad_survived): UNEXPLAINED" in text and "**passes.py" not in text
    assert unexplained == 1
    assert mr.is_current(mr.kept("levels")) and not mr.is_current(mr.kept("passes"))
    assert not mr.is_current(mr.kept("n1_choice"))


def _mutmut_cache(path) -> sqlite3.Connection:
    """An empty database with the tables and columns of mutmut 2's .mutmut-cache that we read."""
    db = sqlite3.connect(path)
    db.executescript("create table sourcefile (id integer primary key, filename text, hash text);"
                     "create table line (id integer primary key, sourcefile integer, line text, line_number integer);"
                     "create table mutant (id integer primary key, line integer, 'index' integer, "
                     "tested_against_hash text, status text);")
    return db


def test_measure_reads_one_module_from_mutmuts_cache(tree, tmp_path):
    """Counts and survivors of one module's mutants; a mutant whose line moved is untested."""
    cache = tmp_path / "cache.sqlite"
    db = _mutmut_cache(cache)
    rel = os.path.relpath(mr.source_path("levels"), mr.ROOT)
    db.execute("insert into sourcefile values (1, ?, ''), (2, 'python/inq_layer/other.py', '')", (rel,))
    db.executemany("insert into line values (?, ?, ?, ?)", [
        (1, 1, "_CHUNK = 1 << 17  # elements per chunk", 0), (2, 1, "    return a + 1", 4),
        (3, 1, "def f(a):", 0),  # moved: the source has it on line 4
        (4, 2, "    return a + 1", 4)])
    db.executemany("insert into mutant values (?, ?, ?, '', ?)", [
        (1, 1, 0, "ok_killed"), (2, 1, 1, "bad_survived"), (3, 2, 0, "bad_survived"), (4, 3, 0, "ok_killed"),
        (5, 4, 0, "bad_survived")])
    db.commit()
    r = mr.measure(str(cache), "levels", SOURCE, "abc1234")
    assert r["counts"] == {"ok_killed": 1, "bad_survived": 2, "untested": 1}
    assert [(s["line"], s["original"], s["mutated"]) for s in r["survivors"]] == [
        (1, "_CHUNK = 1 << 17  # elements per chunk", "_CHUNK = 1 >> 17  # elements per chunk"),
        (5, "    return a + 1", "    return a - 1")]
    assert r["source_sha256"] == mr.sha256(SOURCE)
    with pytest.raises(mr.InqError, match="no mutants of"):
        mr.measure(str(cache), "quantize", SOURCE, "abc1234")


def test_survivors_of_other_tests_are_untested_and_listed_for_a_rerun(tree, tmp_path):
    """mutmut looks a line up by its text alone, so the second copy of a line keeps the status
    it had under older tests: such a survivor does not count, and --stale names it for a rerun."""
    source = "def f(a):\n    x = a + 1\n    x = a + 1\n    return x\n"
    cache = tmp_path / "cache.sqlite"
    db = _mutmut_cache(cache)
    db.execute("insert into sourcefile values (1, ?, '')", (os.path.relpath(mr.source_path("levels"), mr.ROOT),))
    db.executemany("insert into line values (?, 1, '    x = a + 1', ?)", [(1, 1), (2, 2)])
    db.executemany("insert into mutant values (?, ?, ?, ?, ?)", [
        (7, 1, 0, "new", "ok_killed"), (8, 1, 1, "new", "bad_survived"),  # the first copy, tested now
        (9, 2, 0, "old", "ok_killed"), (10, 2, 1, "old", "bad_survived"), (11, 2, 2, "", "untested")])
    db.commit()
    assert mr.stale(str(cache), "levels", source, "new") == [10, 11]
    r = mr.measure(str(cache), "levels", source, "abc1234", "new")
    assert r["counts"] == {"ok_killed": 2, "bad_survived": 1, "untested": 2}
    assert [s["line"] for s in r["survivors"]] == [2]
    assert mr.measure(str(cache), "levels", source, "abc1234")["counts"]["bad_survived"] == 2


def test_every_reason_names_a_line_its_module_still_has():
    """A reason keyed on a line that left its module explains nothing: drop or move it."""
    lines = {}
    for mod in {mod for mod, _, _ in mr.EQUIVALENT}:
        with open(mr.source_path(mod)) as f:
            lines[mod] = {s.strip() for s in f.read().split("\n")}
    for mod, line, _ in mr.EQUIVALENT:
        assert line.strip() in lines[mod], (mod, line)


def test_an_unfinished_module_shows_how_far_its_carried_cache_got(tree):
    """Tested mutants of lines the source still has count, wherever the line moved to."""
    db = _mutmut_cache(tree / "state" / "levels.mutmut-cache")
    db.execute("insert into sourcefile values (1, ?, '')", (os.path.relpath(mr.source_path("levels"), mr.ROOT),))
    db.executemany("insert into line values (?, 1, ?, ?)", [(1, "def f(a):", 0), (2, "    return a + 2", 4),
                                                             (3, "    return a + 1", 4)])
    db.executemany("insert into mutant values (?, ?, 0, '', ?)", [
        (1, 1, "ok_killed"), (2, 2, "ok_killed"), (3, 3, "bad_survived"), (4, 3, "untested")])
    db.commit()
    assert mr.tested_so_far("levels") == 2 and mr.tested_so_far("passes") == 0
    assert "levels.py (not finished: 2 mutants of its current lines tested, cache in mutation_state/)" in \
        "\n".join(mr.render()[0])

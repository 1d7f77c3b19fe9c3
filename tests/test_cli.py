"""cli: the options the driver and the prune tool share, checked the same way in both."""
import os

import pytest

from caffe_nets import write_tiny
from driver_util import run_driver, run_tool


@pytest.mark.parametrize("args, message", [
    (["--max-iter", "2147483648"], "--max-iter must be in 1..2147483647, got 2147483648"),
    (["--max-iter", "0"], "--max-iter must be in 1..2147483647, got 0"),
    (["--seed", "-1"], "--seed must be in 0..4294967295, got -1"),
    (["--seed", "4294967296"], "--seed must be in 0..4294967295, got 4294967296"),
    (["--gpu", "-1"], "--gpu must be in 0..2147483647, got -1"),
])
def test_both_tools_refuse_out_of_range_options(tmp_path, args, message):
    solver = write_tiny(str(tmp_path))
    base = ["--solver", solver, "--init-from-fillers", "--out", str(tmp_path / "o")]
    for r in (run_driver(*base, *args, check=False), run_tool("prune", *base, "--sparsity", "0.5", *args, check=False)):
        assert r.returncode == 2 and r.stderr == f"error: {message}\n"
        assert not os.path.exists(tmp_path / "o")


def test_prune_counts_its_zeros_without_the_inq_check(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    r = run_tool("prune", "--solver", solver, "--init-from-fillers", "--out", str(tmp_path / "p"),
                 "--sparsity", "0.5", "--steps", "0.5")
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.startswith(("conv1 ", "ip1 "))}
    assert "sparsity 50.00%" in lines["conv1"] and "sparsity 50.00%" in lines["ip1"]
    assert "violations" not in r.stdout
    out = tmp_path / "p"
    assert r.stdout.endswith(f"pruned model: {out}/pruned.caffemodel\n"
                             f"reports: {out}/report.md, report.json, accuracy.png\n")


def test_both_tools_refuse_an_out_that_holds_their_inputs(tmp_path):
    solver = write_tiny(str(tmp_path))
    base = ["--solver", solver, "--init-from-fillers", "--out", str(tmp_path)]
    for r in (run_driver(*base, check=False), run_tool("prune", *base, "--sparsity", "0.5", check=False)):
        assert r.returncode == 2 and f"--out {tmp_path} holds the input {solver}" in r.stderr
        assert sorted(os.listdir(tmp_path)) == ["net.prototxt", "solver.prototxt"]


def test_an_error_line_is_cut_to_a_readable_length(tmp_path, tiny):
    """A 70,000-character layer name in an option: one error line, its start and end kept."""
    name = "x" * 70000
    r = run_tool("check", "--model", str(tmp_path / "net.prototxt"), "--weights", str(tmp_path / "nope.caffemodel"),
                 "--layer-bits", f"{name}=9", check=False)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(lines) == 1 and len(lines[0]) <= 2010
    assert "characters cut" in lines[0] and lines[0].endswith("bits must be in 2..8")


@pytest.mark.parametrize("tool", ["fashion_data", "digits_data"])
def test_the_data_tools_refuse_a_file_for_a_folder(tmp_path, tool):
    from driver_util import assert_clean_error
    mine = tmp_path / "mine"
    mine.write_text("my file")
    for args, option in ((["--out", str(mine), "--downloads", str(tmp_path / "dl")], "--out"),
                         (["--out", str(tmp_path / "o"), "--downloads", str(mine)], "--downloads")):
        assert_clean_error(run_tool(tool, *args, check=False),
                           f"error: {option} {mine} is a file; give a folder (nothing was changed)")
    assert mine.read_text() == "my file" and sorted(os.listdir(tmp_path)) == ["mine"]

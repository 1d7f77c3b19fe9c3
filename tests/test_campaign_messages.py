"""What a campaign (campaign/phases.py) tells its user, word for word: the lines of its log
that say what it does, the warnings, and the refusals a resume can meet."""
import json
import os
import shutil
import time

from caffe_nets import write_tiny
from driver_util import assert_clean_error, log_messages, run_driver, states


def _said(r) -> list[str]:
    return log_messages(r.stdout)


def _edit(solver: str, old: str, new: str) -> None:
    text = open(solver).read()
    assert old in text
    open(solver, "w").write(text.replace(old, new))


def test_the_log_says_what_each_phase_does(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=3, snapshot=0)
    out = tmp_path / "o"
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--out", str(out))
    said = _said(r)
    assert said[0] == (f"Solving INQ campaign 0.5,1 (5 bits, paper rule, magnitude partition, n1 rule max) "
                       f"into {out}")
    frozen = [m for m in said if m.startswith("Phase ")]
    assert [m[: m.index(" (frozen")] for m in frozen] == ["Phase 1/2: quantized portion 0.5",
                                                           "Phase 2/2: quantized portion 1"]
    assert frozen[1].endswith("(frozen 1.0000)") and 0.4 < float(frozen[0][-7:-1]) < 0.6
    assert [m for m in said if m.startswith("Snapshotting")] == [
        f"Snapshotting to {out}/phase1/inq_iter_3.caffemodel (+ .solverstate, .inqstate.npz)",
        f"Snapshotting to {out}/phase2/inq_iter_1.caffemodel (+ .solverstate, .inqstate.npz)"]
    assert not any("warning" in m for m in said), said


def test_a_used_out_folder_needs_resume(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = tmp_path / "o"
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--out", str(out)]
    run_driver(*args)
    before = (out / "campaign.json").read_bytes()
    r = run_driver(*args, check=False)
    assert_clean_error(r)
    assert r.stderr.splitlines()[-1] == (f"error: {out} already holds a campaign; use --resume to continue it "
                                         f"or choose another --out")
    assert (out / "campaign.json").read_bytes() == before


def test_a_gpu_solver_on_a_cpu_only_caffe_runs_on_the_cpu_and_gpu_asked_for_is_refused(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    _edit(solver, "solver_mode: CPU", "solver_mode: GPU")
    out = tmp_path / "o"
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", str(out))
    assert (f"warning: {solver} asks for solver_mode GPU but this Caffe has no usable GPU; running on the CPU"
            in _said(r))
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", str(tmp_path / "g"),
                   "--gpu", "0", check=False)
    assert_clean_error(r)
    assert r.stderr.splitlines()[-1] == "error: --gpu 0: this Caffe cannot use GPU 0 (CPU-only build?)"


def test_no_test_iter_is_a_warning_word_for_word(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    _edit(solver, "test_iter: 2", "test_iter: 0")
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", str(tmp_path / "o"))
    assert (f"warning: {solver} has no test_iter above 0: no tests will run, the report has no accuracy"
            in _said(r))


def _cut_last_phase(out) -> None:
    """campaign.json as a run killed in its last phase leaves it (its snapshots kept)."""
    rec = json.loads((out / "campaign.json").read_text())
    rec["phases"], rec["final_model"] = rec["phases"][:-1], None
    (out / "campaign.json").write_text(json.dumps(rec))
    os.remove(out / "final_inq.caffemodel")


def test_a_resume_says_where_it_resumes_and_refuses_a_snapshot_of_other_settings(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--final-iters", "2"]
    t = time.time()
    run_driver(*common, "--out", str(a))
    wall = time.time() - t
    run_driver(*common, "--bits", "4", "--out", str(b))
    _cut_last_phase(a)
    r = run_driver(*common, "--out", str(a), "--resume")
    state = f"{a}/phase2/inq_iter_2.inqstate.npz"
    said = _said(r)
    assert f"Resuming phase 2 from {state} (iteration 2)" in said
    from inq_layer.campaign.state import load_snapshot_state
    counted = load_snapshot_state(state).seconds  # the time the interrupted run had spent in phase 2
    assert 0 < counted < wall
    assert json.loads((a / "report.json").read_text())["phases"][1]["seconds"] >= counted
    assert [m[: m.index(" (")] for m in said if m.startswith("Fast-forwarded")] == [
        "Fast-forwarded the data layers by 2 training batches and 1 test passes"]
    _cut_last_phase(b)
    shutil.rmtree(b / "phase2")
    shutil.copytree(a / "phase2", b / "phase2")  # another campaign's snapshots
    r = run_driver(*common, "--bits", "4", "--out", str(b), "--resume", check=False)
    assert_clean_error(r)
    [(_, other)] = [s for s in states(str(b), 2) if s[0] == 2]
    assert r.stderr.splitlines()[-1] == (f"error: {other}: written by a campaign with other settings "
                                         f"(bits = 5, not 4); use another --out")


def test_a_kernel_not_built_is_a_warning_naming_its_library(tmp_path, monkeypatch, capsys):
    from driver_util import driver_module
    from inq_layer.core import codes, passes
    drv = driver_module()
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    monkeypatch.setattr(codes, "KERNEL", "numpy")
    monkeypatch.setattr(passes, "KERNEL", "numpy")
    assert drv.main(["--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", str(tmp_path / "o")]) == 0
    said = log_messages(capsys.readouterr().out)
    assert said[1:3] == [
        f"warning: {codes.LIBRARY} is not built (make setup): frozen weights are written back with numpy, same "
        "results but a few percent slower on small nets",
        f"warning: {passes.LIBRARY} is not built (make setup): blobs are quantized with numpy, same results, about "
        "6 times slower at each phase boundary"]

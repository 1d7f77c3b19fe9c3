"""The replication's plan, runner commands and renderer (experiments/replication/replication/), without training."""
import json
import os
import sys
import tarfile

import pytest

APP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # experiments/replication
ROOT = os.path.dirname(os.path.dirname(APP))
sys.path.insert(0, APP)

from replication import figures, layout, plan, readme, render  # noqa: E402


def test_committed_doc_is_what_the_kept_results_render():
    """docs/REPLICATION.md holds only numbers that docs/replication/ gives (make replication-doc)."""
    with open(layout.DOC) as f:
        committed = f.read()
    assert render.doc_text(figures.available()) == committed


def test_readme_sections_are_what_the_kept_results_render():
    """The README's sections written from the runs hold only numbers the kept runs give."""
    with open(readme.README) as f:
        committed = f.read()
    assert readme.with_sections(committed) == committed
    assert readme.begin("2-bit ResNet") + "\n## 2-bit ResNet: what to use\n" in committed
    assert readme.begin("activations") + "\nWhat the rows measured" in committed


def test_readme_sections_need_their_markers():
    b, e = readme.begin("activations"), readme.end("activations")
    resnet = readme.begin("2-bit ResNet") + "\n" + readme.end("2-bit ResNet") + "\n"
    with pytest.raises(ValueError, match="needs one"):
        readme.with_sections("no markers here\n")
    with pytest.raises(ValueError, match="activations"):
        readme.with_sections(resnet + f"{e}\n{b}\n")
    with pytest.raises(ValueError, match="activations"):
        readme.with_sections(resnet + f"{b}\n{b}\n{e}\n")
    assert readme.with_sections(resnet + f"{b}\n{e}\n").count("What to use:") == 1


@pytest.mark.parametrize("d, sd, says", [(0.05, 0.16, "WITHIN"), (-0.15, 0.16, "WITHIN"), (-0.42, 0.16, "A"),
                                         (3.89, 0.54, "B"), (0.16, 0.16, "WITHIN")])
def test_activation_advice_follows_the_measured_difference(monkeypatch, d, sd, says):
    from replication import render_act
    monkeypatch.setattr(render_act.P, "ACT_ADVICE", (("choice", "x", "y", "WITHIN", "A", "B"),))
    monkeypatch.setattr(render_act, "difference", lambda a, b: (d, sd) if (a, b) == ("x", "y") else None)
    assert render_act.advice() == [f"- choice: {d:+.2f} points, "
                                   f"{'within' if says == 'WITHIN' else 'beyond'} the seeds' spread of {sd:.2f}: "
                                   f"{says}."]
    monkeypatch.setattr(render_act, "difference", lambda a, b: None)
    assert render_act.advice() == ["- choice: pending."]


def test_every_reference_in_the_plan_exists():
    for key, row in plan.ROWS.items():
        assert row.net in plan.NETS and row.regime in plan.REGIMES, key
        assert row.start == "float" or row.start in plan.PRUNES, key
        assert not row.layer_bits or row.bits < max(b for _, b in row.layer_bits), key
    for p in plan.PRUNES.values():
        assert p.regime in plan.REGIMES and (p.start is None or p.start in plan.PRUNES)
    for rows in plan.TABLES.values():
        assert set(rows) <= set(plan.ROWS)
    assert set(plan.RESNET_PHASE_LENGTH) <= set(plan.ROWS)
    for a, b, _ in plan.OTHER_CHOICES:
        assert a in plan.ROWS and b in plan.ROWS
    assert set(plan.TABLES["pruned"]) == {k for k, r in plan.ROWS.items() if r.pruned}


@pytest.mark.parametrize("key", sorted(plan.ROWS))
def test_driver_command_parses(key):
    """Every row's command line is one the driver accepts."""
    from inq_layer.tools.driver import build_parser
    args = layout.driver_command(key, 1)
    assert args[0] == "solver_driver.py"
    a = build_parser().parse_args(args[1:])
    row = plan.ROWS[key]
    assert a.bits == row.bits and a.campaign == row.campaign and a.keep_zeros == row.pruned
    assert (a.n1_rule, a.rule, a.strategy, a.quantize) == (row.n1_rule, row.rule, row.strategy, row.quantize)


def test_resnet18_answer_follows_the_rows(monkeypatch):
    """The README's command and solver note take each choice from the better ResNet-8 rows."""
    from replication import render_resnet as rr, results
    fake = {"r2": [-1.0, -1.1, -0.9], "r2_mse": [-2.0, -2.1, -1.9], "r2_mse_fl8": [-3.0, -3.1, -2.9],
            "r2_mse_epoch": [-0.5, -0.6, -0.4], "r2_mse_alexnet": [-1.5, -1.6, -1.4]}
    for module in (rr, results):
        monkeypatch.setattr(module, "change", lambda row: fake.get(row))
    cmd = "\n".join(rr.resnet18_command())
    assert "--n1-rule max" in cmd and "--layer-bits" not in cmd
    assert "set the solver's phase length from it" in rr._solver_note() and "`epoch` regime" in rr._solver_note()
    assert rr._phase_length().startswith("Phase length and learning rate (lr 0.003, x0.2 steps): `r2_mse_epoch`")
    assert "`epoch` regime, best alone: pending" in rr._together()
    fake["r2_mse_fl8_epoch"] = [-0.2, -0.3, -0.1]
    assert "`epoch` regime, best alone: `r2_mse_fl8_epoch` -0.20 ± 0.10 points" in rr._together()
    fake["r2_mse_alexnet"] = [0.0, 0.1, -0.1]
    assert "`alexnet` regime, best alone: pending" in rr._together()
    fake["r2_mse_fl8_alexnet"] = [-0.4, -0.5, -0.3]
    assert "`alexnet` regime, best alone: `r2_mse_fl8_alexnet` -0.40 ± 0.10 points" in rr._together()
    monkeypatch.setattr(rr.P, "RESNET_TOGETHER", ("r2_mse_fl8_epoch", "r2_mse_fl8"))
    assert "not measured together at the `alexnet` regime" in rr._together()
    fake.update({"r2": [-40.0, -45.0, -50.0], "r2_mse_fl8": [-1.0, -1.1, -0.9], "r2_mse_epoch": None})
    cmd = "\n".join(rr.resnet18_command())
    assert "--n1-rule mse --layer-bits conv1=8,fc1000=8" in cmd
    assert "pending" in rr._phase_length() and "pending" in rr._solver_note() and "pending" in rr._together()


def test_replicate_command_line(tmp_path, monkeypatch, capsys):
    """Bad arguments are one error line and exit 2; --pending says where each unfinished run is."""
    import replicate
    from replication import carry, runner
    assert replicate.main(["nosuch"]) == 2 and "unknown rows nosuch" in capsys.readouterr().err
    assert replicate.main(["--doc", "r5"]) == 2 and "rows and --first go with" in capsys.readouterr().err
    assert replicate.main(["--save", "--first", "r5"]) == 2 and "not with --float" in capsys.readouterr().err
    assert replicate.main(["--float", "vgg"]) == 2 and "invalid choice: 'vgg'" in capsys.readouterr().err
    monkeypatch.setattr(runner, "is_kept", lambda name: name == "r4_s2")
    monkeypatch.setattr(carry, "STATE", str(tmp_path / "state"))
    monkeypatch.setattr(replicate, "run_dir", lambda row, s: str(tmp_path / f"{row}_s{s}"))
    record = json.dumps({"settings": {"campaign": ["0.5", "0.8", "1"], "final_iters": 1},
                         "phases": [{"iterations": 2000, "seconds": 1.0}]})
    for phase in ("phase1", "phase2"):
        (tmp_path / "r4_s1" / phase).mkdir(parents=True)
    (tmp_path / "r4_s1" / "campaign.json").write_text(record)
    (tmp_path / "r4_s1" / "train.log").write_text("I1204 ... Iteration 1100 (9 iter/s), loss = 0.2\n"
                                                   "I1204 ... Iteration 1300 (2 iter/s), loss = 0.1\n")
    for snap in ("phase2/inq_iter_400", "phase2/inq_iter_1200", "phase1/inq_iter_3000"):
        (tmp_path / "r4_s1" / f"{snap}.inqstate.npz").write_bytes(b"")
    (tmp_path / "state").mkdir()
    with tarfile.open(tmp_path / "state" / "r4_s3.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "r4_s1", arcname="r4_s3")  # s1's files, packed as s3's
    assert replicate.main(["--pending", "r4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 runs not finished:"
    assert out[1].startswith("  r4_s1: started in ") and out[2].startswith("  r4_s3: carried in ")
    # 800 iterations of phase 2, then the final phase's 1, at the last speed the log printed
    assert out[1].endswith(", phase 2 of 3, resumes at iteration 1200, 7 min of training left at 2 iterations/s")
    assert out[2].endswith(out[1][-80:])


def test_the_seed_with_most_training_left_starts_first(tmp_path, monkeypatch):
    """Within a row, runs start longest first: a fresh seed beside the carried ones, not alone
    after them; rows keep their declared order."""
    from replication import runner
    monkeypatch.setattr(runner, "run_dir", lambda row, s: str(tmp_path / f"{row}_s{s}"))
    monkeypatch.setattr(runner, "collect", lambda row, s: (row, s) == ("r4", 2))
    per_phase = plan.ALEX_ITERS
    for seed, done, at in ((1, 4, 2000), (2, 3, 8000)):
        run = tmp_path / f"r2_mse_alexnet_s{seed}"
        (run / f"phase{done + 1}").mkdir(parents=True)
        (run / f"phase{done + 1}" / f"inq_iter_{at}.inqstate.npz").write_bytes(b"")
        (run / f"phase{done}").mkdir()
        (run / f"phase{done}" / f"inq_iter_{per_phase}.inqstate.npz").write_bytes(b"")
        (run / "campaign.json").write_text(json.dumps({"settings": {"campaign": plan.C2.split(",")},
                                                       "phases": [{"iterations": per_phase}] * done}))
    assert runner.iterations_left("r2_mse_alexnet", 3) == 9 * per_phase + 1
    assert runner.iterations_left("r2_mse_alexnet", 2) == 6 * per_phase + 1 - 8000
    assert runner.iterations_left("r2_mse_alexnet", 1) == 5 * per_phase + 1 - 2000
    assert runner.iterations_left("r4", 1) == 5 * 1252 + 1  # the shipped INQ solver's max_iter
    # --pending: before a phase has finished, a phase's iterations come from the plan
    from replication import carry
    line = carry.dir_progress(str(tmp_path / "r2_mse_alexnet_s1"), per_phase)
    assert line == "phase 5 of 10, resumes at iteration 2000"  # no speed in a log yet
    fresh = {"settings": {"campaign": plan.C2.split(","), "final_iters": 1}, "phases": []}
    assert carry.progress(fresh, ["phase1/inq_iter_2000.inqstate.npz"], "Iteration 2100 (5 iter/s)",
                          per_phase).endswith(f", {(9 * per_phase + 1 - 2000) / 5 / 3600:.1f} h of training "
                                              "left at 5 iterations/s")
    assert "left" not in carry.progress(fresh, [], "Iteration 2100 (5 iter/s)")
    assert runner.pending(["r4", "r2_mse_alexnet"]) == [("r4", 1), ("r4", 3), ("r2_mse_alexnet", 3),
                                                        ("r2_mse_alexnet", 2), ("r2_mse_alexnet", 1)]
    # --first: one slot on the long row at once, its other seeds after the rest
    assert runner.pending(["r4", "r2_mse_alexnet"], "r2_mse_alexnet") == [
        ("r2_mse_alexnet", 3), ("r4", 1), ("r4", 3), ("r2_mse_alexnet", 2), ("r2_mse_alexnet", 1)]

"""Unfinished runs carried across fresh checkouts: a session's build/ is gone when the next
one starts, and a ResNet-8 float model or an AlexNet-regime campaign takes longer than one
session. `save` packs what a run needs to continue (a float model, or the newest resume
point of a training or a campaign) into replication_state/ (committed); `restore` unpacks
it into build/replicate_fashion/ where that run has nothing yet."""
from __future__ import annotations

import glob
import gzip
import io
import json
import os
import re
import tarfile

from .layout import OUT, ROOT, float_path, float_prefix, run_dir
from .plan import ROWS, SEEDS

STATE = os.path.join(ROOT, "replication_state")


def _kept(name: str) -> bool:
    from .runner import is_kept
    return is_kept(name)


def _solverstate_ok(path: str) -> bool:
    """A solverstate Caffe finished writing (one being written does not parse)."""
    from inq_layer.caffe_edge.caffe_io import pb2
    try:
        with open(path, "rb") as f:
            st = pb2().SolverState.FromString(f.read())
        return st.iter > 0
    except Exception:  # noqa: BLE001 - any parse failure means "not complete"
        return False


def float_files(net: str, seed: int) -> list[str]:
    """The final float model, else the newest complete snapshot of its training and the log."""
    if os.path.exists(float_path(net, seed)):
        return [float_path(net, seed)]
    prefix = float_prefix(net, seed)
    states = sorted(glob.glob(prefix + "_iter_*.solverstate"), key=lambda f: int(re.findall(r"(\d+)\.", f)[-1]))
    for st in reversed(states):
        model = st[:-len(".solverstate")] + ".caffemodel"
        if os.path.exists(model) and _solverstate_ok(st):
            return [st, model] + ([prefix + ".log"] if os.path.exists(prefix + ".log") else [])
    return []


def campaign_files(row: str, seed: int) -> list[str]:
    """What `--resume` needs: the record, the logs, the last finished phase's snapshot (the
    next phase starts from it) and the running phase's newest complete one."""
    from inq_layer.campaign.state import CampaignRecord, newest_complete_snapshot, snapshot_files
    out = run_dir(row, seed)
    rec = CampaignRecord.load(os.path.join(out, "campaign.json"))
    if rec is None:
        return []
    files = [os.path.join(out, n) for n in ("campaign.json", "driver.log", "train.log")
             if os.path.exists(os.path.join(out, n))]
    states = [os.path.join(out, rec.data.phases[-1].final_state)] if rec.data.phases else []
    snap = newest_complete_snapshot(os.path.join(out, f"phase{len(rec.data.phases) + 1}"))
    if snap is not None:
        states.append(snap[0])
    for s in states:
        files += [s, *snapshot_files(s)]
    return files


def wanted() -> dict[str, list[str]]:
    """Archive name -> files, for every unfinished run and every float model a dense row
    still needs (pruned models are not carried: LeNet's prunings are all kept)."""
    out: dict[str, list[str]] = {}
    for s in SEEDS:
        needs = {r.net for k, r in ROWS.items() if not r.pruned and not _kept(f"{k}_s{s}")}
        for net in sorted(needs):
            out[f"float_{net}_s{s}"] = float_files(net, s)
        for k in ROWS:
            if not _kept(f"{k}_s{s}"):
                out[f"{k}_s{s}"] = campaign_files(k, s)
    return {k: v for k, v in out.items() if v}


def save() -> dict[str, int]:
    """Write replication_state/NAME.tar.gz for each unfinished run (atomically), drop the
    archives of runs that finished; returns NAME -> bytes."""
    from inq_layer.atomic import write_bytes_atomic
    os.makedirs(STATE, exist_ok=True)
    keep = wanted()
    sizes = {}
    for name, files in keep.items():
        buf = io.BytesIO()
        # gzip's header time set to 0: a run that has not moved packs to the same bytes, so
        # committing the folder again adds nothing for it.
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
            for f in files:
                tar.add(f, arcname=os.path.relpath(f, OUT))
            listing = json.dumps(sorted(os.path.relpath(f, OUT) for f in files)).encode()
            info = tarfile.TarInfo("carried.json")
            info.size = len(listing)
            tar.addfile(info, io.BytesIO(listing))
        write_bytes_atomic(os.path.join(STATE, f"{name}.tar.gz"), buf.getvalue())
        sizes[name] = len(buf.getvalue())
    for old in glob.glob(os.path.join(STATE, "*.tar.gz")):
        if os.path.basename(old)[:-len(".tar.gz")] not in keep:
            os.unlink(old)
    return sizes


def _target(name: str) -> str:
    """What exists once a run has started on this machine: its float snapshots or model, or
    its --out folder."""
    return float_prefix(*_float_of(name)) if name.startswith("float_") else os.path.join(OUT, name)


def _float_of(name: str) -> tuple[str, int]:
    net, seed = name[len("float_"):].rsplit("_s", 1)
    return net, int(seed)


def restore() -> list[str]:
    """Unpack each archive whose run has nothing here yet; returns their names."""
    done = []
    for arch in sorted(glob.glob(os.path.join(STATE, "*.tar.gz"))):
        name = os.path.basename(arch)[:-len(".tar.gz")]
        target = _target(name)
        if glob.glob(target + "*") if name.startswith("float_") else os.path.exists(target):
            continue
        os.makedirs(OUT, exist_ok=True)
        with tarfile.open(arch) as tar:
            members = [m for m in tar.getmembers() if m.name != "carried.json"]
            for m in members:
                if m.name.startswith(("/", "..")) or not m.isfile():
                    raise RuntimeError(f"{arch}: unexpected member {m.name!r}")
            tar.extractall(OUT, members=members)
        done.append(name)
    return done


def resume_point(campaign: dict, snapshots: list[str]) -> tuple[int, int]:
    """(phases finished, iteration the running phase resumes from) of a campaign.json and
    the paths of its snapshot states relative to the run folder."""
    from inq_layer.campaign.state import snapshot_iteration
    done = len(campaign.get("phases", []))
    its = [it for p in snapshots if p.startswith(f"phase{done + 1}/") and (it := snapshot_iteration(p)) is not None]
    return done, max(its, default=0)


def dir_resume_point(out: str) -> tuple[int, int]:
    """resume_point() of a run folder on this machine ((0, 0) before its campaign.json)."""
    if not os.path.exists(os.path.join(out, "campaign.json")):
        return 0, 0
    return resume_point(_campaign(out), _snapshots(out))


def _campaign(out: str) -> dict:
    with open(os.path.join(out, "campaign.json")) as f:
        return json.load(f)


def _snapshots(out: str) -> list[str]:
    return [os.path.relpath(p, out) for p in glob.glob(os.path.join(out, "phase*", "*.inqstate.npz"))]


def training_left(done: int, at: int, per_phase: int, total: int, final: int) -> int:
    """Iterations a campaign of `total` phases has left with `done` finished and the running
    one resuming at `at`: `per_phase` for each phase but the last, which trains `final`."""
    return max(0, max(0, total - 1 - done) * per_phase + (final if done < total else 0) - at)


def progress(campaign: dict, snapshots: list[str], log: str = "", per_phase: int | None = None) -> str:
    """Where a campaign stands, from its campaign.json, the paths of its snapshot states
    (relative to the run folder) and its train.log: the running phase, the iteration it
    resumes from and the training left at the speed the log last printed. A phase's
    iterations come from the first finished phase, else from `per_phase`."""
    phases, settings = campaign.get("phases", []), campaign.get("settings", {})
    total = len(settings.get("campaign", []))
    done, at = resume_point(campaign, snapshots)
    line = f"phase {done + 1} of {total}, resumes at iteration {at}"
    per_phase = phases[0]["iterations"] if phases else per_phase
    speeds = re.findall(r"Iteration \d+ \(([\d.]+) iter/s\)", log)
    if per_phase and speeds and float(speeds[-1]) > 0:
        final = int(settings.get("final_iters") or per_phase)
        secs = training_left(done, at, per_phase, total, final) / float(speeds[-1])
        line += (f", {secs / 3600:.1f} h" if secs >= 3600 else f", {secs / 60:.0f} min") + \
            f" of training left at {float(speeds[-1]):g} iterations/s"
    return line


def dir_progress(out: str, per_phase: int | None = None) -> str:
    """progress() of a run folder on this machine."""
    text = ""
    if os.path.exists(os.path.join(out, "train.log")):
        with open(os.path.join(out, "train.log"), errors="replace") as f:
            text = f.read()
    return progress(_campaign(out), _snapshots(out), text, per_phase)


def archive_progress(arch: str, per_phase: int | None = None) -> str:
    """progress() of a run packed by save(), read from the archive without unpacking it."""
    with tarfile.open(arch) as tar:
        names = tar.getnames()
        rec = next((n for n in names if n.endswith("/campaign.json")), None)
        if rec is None:
            return "no campaign record in it"
        run = rec[:-len("campaign.json")]
        campaign = json.load(tar.extractfile(rec))
        log = tar.extractfile(run + "train.log").read().decode(errors="replace") if run + "train.log" in names else ""
    return progress(campaign, [n[len(run):] for n in names if n.startswith(run)], log, per_phase)

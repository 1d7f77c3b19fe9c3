"""The INQ state saved beside every snapshot, and the campaign record of an --out folder.

A snapshot is complete when its `.inqstate.npz` exists and the sha256 of the caffemodel and
solverstate it names still match: the state is written last and atomically, so a crash or
a full disk in the middle of a snapshot leaves an incomplete one that resume skips.
"""
from __future__ import annotations

import glob
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..atomic import sha256_file, write_bytes_atomic, write_text_atomic
from ..errors import InqError
from ..files import check_regular
from .report_schema import Phase, field_of, json_safe, metrics_of
from ..net.freezer import FrozenBlob

STATE_VERSION = 1
_STATE_RE = re.compile(r"_iter_(\d+)\.inqstate\.npz$")


@dataclass
class SnapshotState:
    phase: int  # 0-based index into the campaign
    iteration: int
    blobs: list[FrozenBlob]
    files: dict = field(default_factory=dict)  # kind -> {"name", "sha256"}
    settings: dict = field(default_factory=dict)  # campaign, bits, rule, ... (Settings.record())
    seconds: float = 0.0  # time spent in the phase so far, earlier interrupted runs included

    def by_key(self) -> dict[tuple[str, int], FrozenBlob]:
        return {(b.layer, b.index): b for b in self.blobs}


def save_snapshot_state(path: str, state: SnapshotState, caffemodel: str, solverstate: str) -> None:
    meta = {
        "version": STATE_VERSION, "phase": state.phase, "iteration": state.iteration,
        "settings": state.settings, "seconds": state.seconds,
        "blobs": [{"layer": b.layer, "index": b.index, "n1": b.n1, "n2": b.n2, "bits": b.bits} for b in state.blobs],
        "files": {kind: {"name": os.path.basename(p), "sha256": sha256_file(p)}
                  for kind, p in (("caffemodel", caffemodel), ("solverstate", solverstate))},
    }
    buf = io.BytesIO()
    arrays = {f"codes_{i}": b.codes for i, b in enumerate(state.blobs)}
    arrays.update({f"pruned_{i}": b.pruned for i, b in enumerate(state.blobs) if b.pruned is not None})
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), **arrays)
    write_bytes_atomic(path, buf.getvalue())


def load_snapshot_state(path: str, verify: bool = True) -> SnapshotState:
    check_regular(path, "INQ state")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != STATE_VERSION:
                raise InqError(f"{path}: INQ state version {meta.get('version')} is not {STATE_VERSION}")
            blobs = [FrozenBlob(b["layer"], b["index"], b["n1"], b["n2"], z[f"codes_{i}"],
                                z[f"pruned_{i}"] if f"pruned_{i}" in z.files else None, b.get("bits"))
                     for i, b in enumerate(meta["blobs"])]
    except InqError:
        raise
    except Exception as e:  # zip/npz/json damage of any kind
        raise InqError(f"{path}: damaged INQ state ({e})") from None
    st = SnapshotState(meta["phase"], meta["iteration"], blobs, meta["files"], meta.get("settings", {}),
                       float(meta.get("seconds", 0.0)))
    if verify:
        d = os.path.dirname(path)
        for kind, f in st.files.items():
            p = os.path.join(d, f["name"])
            if not os.path.isfile(p) or sha256_file(p) != f["sha256"]:
                raise InqError(f"{path}: its {kind} {p} is missing or changed")
    return st


def snapshot_files(state_path: str) -> tuple[str, str]:
    base = state_path[: -len(".inqstate.npz")]
    return base + ".caffemodel", base + ".solverstate"


def snapshot_iteration(path: str) -> int | None:
    """The iteration of an INQ state file by its name (.../inq_iter_N.inqstate.npz), or None."""
    m = _STATE_RE.search(path)
    return int(m.group(1)) if m else None


def newest_complete_snapshot(folder: str, skipped: Callable[[str, str], None] | None = None
                             ) -> tuple[str, SnapshotState] | None:
    """The complete snapshot with the highest iteration in `folder`, if any; `skipped`
    hears of each newer one passed over (path, why)."""
    found = []
    for p in glob.glob(os.path.join(folder, "*.inqstate.npz")):
        it = snapshot_iteration(p)
        if it is not None:
            found.append((it, p))
    for _, p in sorted(found, reverse=True):
        try:
            return p, load_snapshot_state(p)
        except InqError as e:  # incomplete or damaged: fall back to the previous one
            if skipped is not None:
                skipped(p, str(e))
    return None


@dataclass
class Pending:
    """What a phase in progress measured before training (kept for a resume)."""
    test_after_quantize: dict
    unfrozen_by_reselection: int | None = None


@dataclass
class Record:
    """<out>/campaign.json: the campaign's settings and what its phases measured."""
    settings: dict  # Settings.record()
    init_from_fillers: bool = False
    test_float: dict | None = None
    phases: list[Phase] = field(default_factory=list)
    pending: Pending | None = None
    final_model: str | None = None
    activations: dict | None = None  # quantizer -> {"blob", "bits", "f", "signed"}, once calibrated

    @classmethod
    def from_json(cls, data: dict, path: str) -> "Record":
        """Every field type-checked: a damaged record is found before any training."""
        where = f"{path}: damaged campaign record"
        try:
            settings = field_of(data, "settings", dict, where)
            campaign = field_of(settings, "campaign", list, where)
            if not campaign or not all(isinstance(c, str) for c in campaign):
                raise InqError(f"{where}: settings.campaign is {campaign!r}, not a list of portions")
            campaign = phase_portions(settings)
            rec = cls(settings, field_of(data, "init_from_fillers", bool, where, False),
                      metrics_of(data, "test_float", where) if data.get("test_float") is not None else None,
                      final_model=field_of(data, "final_model", (str, type(None)), where, None))
            for i, p in enumerate(field_of(data, "phases", list, where, [])):
                w = f"{where}, phase {i + 1}"
                ph = Phase.parse(p, w)
                if ph.final_state is None:
                    raise InqError(f"{w}: no field 'final_state'")
                rec.phases.append(ph)
                if i >= len(campaign) or abs(ph.portion - float(campaign[i])) > 1e-9:
                    raise InqError(f"{w}: portion {ph.portion:g} is not portion {i + 1} of the "
                                   f"campaign {','.join(campaign)} (a duplicated or foreign phase record)")
            pend = field_of(data, "pending", (dict, type(None)), where, None)
            if pend is not None:
                rec.pending = Pending(metrics_of(pend, "test_after_quantize", f"{where}, pending"),
                                      field_of(pend, "unfrozen_by_reselection", (int, type(None)),
                                               f"{where}, pending", None))
            rec.activations = _activations(field_of(data, "activations", (dict, type(None)), where, None), where)
        except ValueError as e:
            raise InqError(f"{where} ({e}); move it away or use another --out") from None
        return rec


def phase_portions(settings: dict) -> list[str]:
    """The portion of each phase: the campaign's, and 1 once more for the activation phase
    of `act_from` end."""
    extra = ["1"] if settings.get("act_bits") is not None and settings.get("act_from") == "end" else []
    return list(settings["campaign"]) + extra


def _activations(d: dict | None, where: str) -> dict | None:
    if d is None:
        return None
    for name, q in d.items():
        w = f"{where}, activations.{name}"
        if not isinstance(q, dict):
            raise InqError(f"{w}: not an object")
        field_of(q, "blob", str, w)
        for k in ("bits", "f"):
            field_of(q, k, int, w)
        field_of(q, "signed", bool, w)
    return d



def differing(old: dict, new: dict) -> list[str]:
    """The settings whose values differ between two records (one missing counts as None), sorted."""
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


class CampaignRecord:
    """The Record of an --out folder, loaded and saved atomically."""

    def __init__(self, path: str, data: Record):
        self.path, self.data = path, data

    @classmethod
    def load(cls, path: str) -> "CampaignRecord | None":
        if not os.path.exists(path):
            return None
        check_regular(path, "campaign record")
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise InqError(f"{path}: unreadable campaign record ({e})") from None
        if not isinstance(data, dict):
            raise InqError(f"{path}: damaged campaign record (not a JSON object)")
        return cls(path, Record.from_json(data, path))

    def check_same(self, settings: dict) -> None:
        """Refuse to resume with anything the results depend on changed: every option, and
        the content of the solver, the net and the starting weights."""
        old = self.data.settings
        changed = differing(old, settings)
        if not changed:
            return
        k = changed[0]
        if k.endswith("_sha256"):
            what = k[: -len("_sha256")]
            raise InqError(f"{self.path}: the {what} file differs from the one this --out was written "
                           f"with (sha256 {str(old.get(k))[:12]}..., now {str(settings.get(k))[:12]}...); "
                           f"use another --out or the same file")
        raise InqError(f"{self.path}: this --out was written with {k} = "
                       f"{old.get(k)!r}, not {settings.get(k)!r}; "
                       f"use another --out or the same settings")

    def save(self) -> None:
        r = self.data
        d = {"settings": r.settings, "init_from_fillers": r.init_from_fillers, "test_float": r.test_float,
             "phases": [p.to_json() for p in r.phases], "pending": None if r.pending is None else asdict(r.pending),
             "final_model": r.final_model}
        if r.activations is not None:  # absent without activation quantizers: the record of before
            d["activations"] = r.activations
        write_text_atomic(self.path, json.dumps(json_safe(d), indent=1, allow_nan=False))

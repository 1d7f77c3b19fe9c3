#!/usr/bin/env python3
"""docs/MUTATION.md from the results `make mutate` keeps per module in docs/mutation/.

A mutmut run takes hours and its cache stays in the checkout that ran it, so each module's
counts and survivors are kept (`--keep MODULE`, from mutmut's cache) with the hash of the
source that was mutated. A module counts while its source still has that hash; one that
changed since is listed as such, and scripts/mutate.sh runs it again. Each surviving
mutant is shown as its diff with the reason it is equivalent (EQUIVALENT below: why no
test can tell it from the original), or marked UNEXPLAINED, which means a test is missing.

    scripts/mutation_report.py                    render docs/MUTATION.md (exit 1: unexplained)
    scripts/mutation_report.py --keep MODULE      record MODULE from .mutmut-cache, then render
    scripts/mutation_report.py --current MODULE   exit 0 if MODULE's kept result is current
    scripts/mutation_report.py --tests MODULE     the test files MODULE's mutants run against
    scripts/mutation_report.py --stale MODULE     ids of MODULE's survivors of older tests (mutate.sh reruns them)
    scripts/mutation_report.py --modules          every module, core first
"""
from __future__ import annotations

import argparse
import difflib
import glob
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter

from inq_layer.atomic import write_text_atomic
from inq_layer.errors import InqError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = ["levels", "partition", "quantize", "passes", "n1_choice", "freezer", "codes", "inq_format", "fixed_point"]
# The campaign side and the deploy tools: each module with the fast tests on tiny nets that
# hold its promises (Caffe in CPU mode, no download), first the ones most likely to fail.
CAMPAIGN = {
    "state": ["tests/unit/test_state.py", "tests/test_campaign_promises.py"],
    "trainer": ["tests/test_trainer.py", "tests/test_campaign_promises.py", "tests/test_own_loop.py",
                "tests/test_frozen.py"],
    "check": ["tests/test_check.py", "tests/test_export_library.py", "tests/test_layer_bits.py"],
    "export": ["tests/test_export_library.py", "tests/test_export.py", "tests/test_bad_input_export.py"],
    "prune": ["tests/unit/test_prune_settings.py", "tests/test_prune.py"],
    "report": ["tests/test_report.py", "tests/unit/test_report_schema.py"],
    "lock": ["tests/unit/test_lock.py"],
    "solver_config": ["tests/test_solver_config.py"],
    # first one small campaign of each kind (seconds each: most mutants of the phase loop
    # fail one), then the whole files
    "phases": ["tests/test_campaign.py",
               "tests/test_driver.py::test_campaign_end_to_end_frozen_exact_in_every_snapshot",
               "tests/test_campaign_messages.py::test_the_log_says_what_each_phase_does",
               "tests/test_campaign_promises.py::test_every_phase_of_a_keep_momentum_campaign_trains_its_iterations",
               "tests/test_act_campaign.py::test_act_from_end_adds_a_phase_with_every_weight_frozen",
               "tests/test_campaign_promises.py::test_a_cut_solverstate_is_skipped_and_the_resumed_report_equals_an_"
               "uninterrupted_one",
               "tests/test_driver.py::test_resume_mid_phase_on_lmdb_data_is_bit_identical",
               "tests/test_prune.py::test_the_space_check_of_a_step_counts_its_pruning_masks",
               "tests/test_campaign_messages.py", "tests/test_campaign_promises.py",
               "tests/test_driver.py", "tests/test_act_campaign.py", "tests/test_bad_input_driver.py"],
    "inputs": ["tests/test_inputs.py", "tests/test_bad_input_driver.py", "tests/test_campaign_promises.py"],
    "atomic": ["tests/unit/test_atomic_writes.py", "tests/test_atomic.py", "tests/test_bad_input_driver.py"],
    "caffe_io": ["tests/test_caffe_io.py", "tests/test_prototxt.py", "tests/test_bad_input_driver.py",
                 "tests/test_bad_input_export.py", "tests/test_check.py"],
    "selection": ["tests/unit/test_selection.py", "tests/test_prototxt.py", "tests/test_scheduler.py",
                  "tests/test_shared_weights.py", "tests/test_frozen.py", "tests/test_bad_input_driver.py"],
    "layer_bits": ["tests/test_layer_bits.py", "tests/test_shared_weights.py"],
    "quantize_net": ["tests/test_scheduler.py", "tests/test_own_loop.py", "tests/test_shared_weights.py",
                     "tests/test_layer_bits.py", "tests/test_frozen.py", "tests/test_prune.py",
                     "tests/test_driver.py::test_rules_reference_reselects_paper_monotonic"],
    "activations": ["tests/test_activations.py", "tests/test_act_campaign.py",
                    "tests/test_campaign_promises.py::test_a_users_python_layer_that_raises_in_calibration_is_one_"
                    "line_too"],
    "act_placement": ["tests/test_act_placement.py", "tests/test_act_campaign.py"],
    "act_calibration": ["tests/test_act_calibration.py", "tests/test_act_campaign.py", "tests/test_act_placement.py"],
    "fixed_point_layer": ["tests/test_fixed_point_layer.py", "tests/test_act_placement.py"],
    "fixed_point_params": ["tests/test_fixed_point_layer.py", "tests/test_act_placement.py"],
    "options": ["tests/unit/test_options.py", "tests/test_campaign.py", "tests/test_bad_input_driver.py"],
    "evaluate": ["tests/test_evaluate.py", "tests/test_trainer.py"],
    "log_format": ["tests/unit/test_log_format.py", "tests/test_trainer.py",
                   "tests/test_driver.py::test_caffe_parse_log_reads_the_driver_log"],
    "run": ["tests/test_cli.py", "tests/test_campaign.py"],
    "probe": ["tests/test_probe.py", "tests/test_inputs.py", "tests/test_check.py", "tests/test_campaign.py",
              "tests/test_bad_input_driver.py"],
    "report_schema": ["tests/unit/test_report_schema.py", "tests/test_report.py"],
}
MODULES = CORE + list(CAMPAIGN)
DETECTED = {"ok_killed", "bad_timeout", "ok_suspicious"}  # a timeout is a mutant the tests stop
KEPT = os.path.join(ROOT, "docs", "mutation")
STATE = os.path.join(ROOT, "mutation_state")  # mutmut's cache of each module, carried between checkouts

# (module, text of the original line, text of the mutated line) -> why it is equivalent.
# Matched on stripped lines, so a reformatting elsewhere does not lose the reasons.
_WHY_CHUNK = ("equivalent: the chunk size only bounds memory and speed; the results do not depend on it "
              "(tests run blobs of several chunks against plain numpy)")
_WHY_CLIP = ("equivalent: every level is at most 2^n1, so clipping at 2^(n1+1) instead of 2^n1 gives the same "
             "nearest level; what the clip prevents (a huge |w| whose distance to 2^n1 rounds to its distance "
             "to 0) needs a clip far above 2^(n1+1)")
_WHY_TYPE_CHECKING = "equivalent: a type alias under `if TYPE_CHECKING:`, never run"
_WHY_ANNOTATION = ("equivalent: a field's annotation, never evaluated (the module has `from __future__ "
                   "import annotations`)")
_TRY_ARGS = 'self._cfg(0), os.path.join(self._phase_dir(0), "inq"), self.s.iters(self.cfg, 0))'  # phases' try
_WHY_RESHAPE = "equivalent: numpy's reshape takes any negative size as 'infer this dimension', like -1"
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("fixed_point", "if Fraction(2) ** f > r:", "if Fraction(2) ** f >= r:"): "equivalent: where 2^f equals r "
    "exactly, the original leaves f to the next test (2^f == r), which lowers it by one; the mutant lowers it here, "
    "and then 2^(f-1) is not r: f - 1 either way, and nowhere else do they differ",
    ("fixed_point", "CANDIDATES = 9  # f values the mse rule tries, from the max rule's f upwards (finer steps, "
     "more clipping)", "CANDIDATES = 10  # f values the mse rule tries, from the max rule's f upwards (finer "
     "steps, more clipping)"): "equivalent: how many finer steps the mse rule tries is a choice of effort; the "
     "tests hold the rule to the least error over the candidates the module lists, whatever their number",
    ("levels", "a = np.minimum(a, math.ldexp(1.0, n1))", "a = np.minimum(a, math.ldexp(2.0, n1))"): _WHY_CLIP,
    ("freezer", "Params = Mapping[str, Sequence[Blob]]  # pycaffe's net.params",
     "Params = None  # pycaffe's net.params"):
        "equivalent: an alias for annotations inside `if TYPE_CHECKING:`, which is never true at run time",
    ("freezer", "solver.add_callback(lambda: self.restore(params), lambda: None)",
     "solver.add_callback(lambda: self.restore(params), lambda: 0)"):
        "equivalent: pycaffe ignores what the on_gradients_ready callback returns",
}
_EXACT = "if n2 - 1 < -126 or n1 > 127:"
_WHY_EXACT = ("equivalent: the exact path gives the same bits as the fast one on any grid (both are tested "
              "against the scan); the condition only sends it the grids the fast path cannot do, and these "
              "mutants send it more grids or, for n1 = 128, let the fast path clamp to the same +inf pattern")
_ABOVE = "return min(_F32_100_BITS, (n1 + 1 + 127) << 23) if original else None"
_WHY_ABOVE = ("equivalent: weights from this bound up take the exact path, which gives the same bits as the "
              "fast one; any bound up to 2^(n1+53) does (the double distances only round beyond it), so a lower "
              "bound, even 0, or a slightly higher one changes only speed")
_SPAN = "return [n1 for n1 in range(top, top - _MSE_SPAN - 1, -1) if n2_from_n1(n1, bits) >= _MIN_N2] or [top]"
_WHY_SPAN = ("equivalent for any blob that fits in memory: a grid 38 or more octaves below the max rule's "
             "clips the largest weight to almost nothing, which more than 2^74 weights would have to win back")
_HIST = "HIST_SIZE = 1 << 16  # buckets: a magnitude's exponent and 8 mantissa bits, or a key's top half"
_WRITE = "out, mask, members = passes.write(wbits, prev, held, bucket, int(hist[bucket]) if need else 0, g, key)"
EQUIVALENT.update({
    ("levels", _EXACT, "if n2 - 2 < -126 or n1 > 127:"): _WHY_EXACT,
    ("levels", _EXACT, "if n2 - 1 <= -126 or n1 > 127:"): _WHY_EXACT,
    ("levels", _EXACT, "if n2 - 1 < +126 or n1 > 127:"): _WHY_EXACT,
    ("levels", _EXACT, "if n2 - 1 < -126 or n1 >= 127:"): _WHY_EXACT,
    ("levels", _EXACT, "if n2 - 1 < -126 or n1 > 128:"): _WHY_EXACT,
    **{("levels", _ABOVE, _ABOVE.replace("(n1 + 1 + 127) << 23", m)): _WHY_ABOVE
       for m in ("(n1 - 1 + 127) << 23", "(n1 + 2 + 127) << 23", "(n1 + 1 + 128) << 23", "(n1 + 1 + 127) >> 23")},
    ("levels", "q |= b & np.int32(-0x80000000)  # the sign of w", "q |= b & np.int32(+0x80000000)  # the sign of w"):
        "equivalent under the pinned numpy 1.26, which wraps +0x80000000 to the same int32 bit pattern",
    ("levels", "nonzero >>= 31  # all ones where |w| > 2^(n2-1), else 0 (no masked store: slow)",
     "nonzero >>= 32  # all ones where |w| > 2^(n2-1), else 0 (no masked store: slow)"):
        "equivalent: numpy defines a right shift of an int32 by 32 or more as the sign fill, like 31",
    ("n1_choice", "SCALE = 300  # squared errors are integers times 2^-SCALE",
     "SCALE = 301  # squared errors are integers times 2^-SCALE"):
        "equivalent: the scale only has to keep every shift non-negative (n2 >= -126 makes 300 enough); a larger "
        "one multiplies every offset by the same power of two, so the comparisons and the tests (which read "
        "SCALE) are unchanged",
    ("n1_choice", "_MSE_SPAN = 40  # n1 candidates below the max rule's: far more than clipping ever pays for",
     "_MSE_SPAN = 41  # n1 candidates below the max rule's: far more than clipping ever pays for"): _WHY_SPAN,
    ("n1_choice", _SPAN, _SPAN.replace("top - _MSE_SPAN - 1", "top - _MSE_SPAN + 1")): _WHY_SPAN,
    ("n1_choice", _SPAN, _SPAN.replace("top - _MSE_SPAN - 1", "top - _MSE_SPAN - 2")): _WHY_SPAN,
    ("quantize", 'hist, max_bits, n_held, n_cand, sums = passes.histogram(wbits, prev, held, sums=n1 is None and '
     'n1_rule == "mse",',
     'hist, max_bits, n_held, n_cand, sums = passes.histogram(wbits, prev, held, sums=n1 is None or '
     'n1_rule == "mse",'):
        "equivalent: the sums are read only when the mse rule picks n1; summing in other cases costs time only",
    ("quantize", "m = 0", "m = 1"):
        "equivalent: with no live weight there is no candidate, so choosing none (0) or all (m >= 1) writes the same",
    ("quantize", _WRITE, _WRITE.replace("if need else 0", "if need else 1")):
        "equivalent: with need 0 the bucket is ALL or NONE, which no value falls in, so no member is collected "
        "whatever room is made for one",
    **{("passes", _HIST, _HIST.replace("1 << 16", m)): "equivalent: a larger table only adds buckets above every "
       "value (a bucket is a magnitude's or a key's top 16 bits); NONE and the dropped bucket move up with it"
       for m in ("1 << 17", "2 << 16")},
    ("passes", "KEYS = 512  # half-octaves: magnitude bits >> 22", "KEYS = 513  # half-octaves: magnitude bits >> 22"):
        "equivalent: one more half-octave than magnitude bits >> 22 can reach, always empty (n1_choice reads KEYS)",
    ("passes", "return np.random.SeedSequence(seed).generate_state(2, np.uint32)",
     "return np.random.SeedSequence(seed).generate_state(3, np.uint32)"):
        "equivalent: SeedSequence's first two words do not depend on how many are asked for, and only two are read",
    ("passes", "Sums = tuple[list[int], list[int]]", "Sums = None"): _WHY_ANNOTATION,
    ("quantize_net", "Key = tuple[str, int]", "Key = None"): _WHY_ANNOTATION,
    ("probe", 'r = subprocess.run([sys.executable, "-c", code, net_path], capture_output=True, text=True,',
     'r = subprocess.run([sys.executable, "-c", code, net_path], capture_output=True, text=False,'):
        "equivalent: json.loads reads the child's output as bytes as well as text",
    ("probe", "BUILD_TIMEOUT = 600", "BUILD_TIMEOUT = 601"):
        "equivalent: a limit for a build that never ends; a build here takes seconds, a second more changes nothing",
    ("report_schema", "Metrics = dict[str, float]  # test output name -> value (accuracy, loss, ...)",
     "Metrics = None  # test output name -> value (accuracy, loss, ...)"): _WHY_ANNOTATION,
    ("caffe_io", "Layer = LayerParameter | V1LayerParameter", "Layer = LayerParameter & V1LayerParameter"):
        _WHY_TYPE_CHECKING,
    ("caffe_io", "Layer = LayerParameter | V1LayerParameter", "Layer = None"):
        _WHY_TYPE_CHECKING,
    ("caffe_io", 'M = TypeVar("M", bound="Message")', 'M = TypeVar("XXMXX", bound="Message")'):
        "equivalent: a TypeVar's name only shows in type checkers' messages",
    ("caffe_io", 'M = TypeVar("M", bound="Message")', 'M = TypeVar("M", bound="XXMessageXX")'):
        "equivalent: a TypeVar's bound only shows in type checkers (annotations are never evaluated)",
    ("caffe_io", 'M = TypeVar("M", bound="Message")', "M = None"):
        "equivalent: M appears in annotations only, never evaluated (`from __future__ import annotations`)",
    ("quantize_net",
     "return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, position, milli]).generate_state(1)[0])",
     "return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, position, milli]).generate_state(2)[0])"):
        "equivalent: SeedSequence's first word does not depend on how many are asked for, and only it is read",
    ("quantize_net", "vals = np.abs(decode(codes)[frozen_mask(codes)])", "vals = np.abs(decode(codes))"):
        "equivalent: a float weight's code decodes to NaN, which the next line's `vals > 0` drops as well",
    ("passes", "def histogram(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, sums: bool = False,",
     "def histogram(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, sums: bool = True,"):
        ("equivalent: the callers that leave `sums` at its default (`largest`, the reference rule's random "
         "draw) read only the counts; summing costs time only"),
    ("passes", "stats = np.zeros(3, np.uint64)", "stats = np.zeros(4, np.uint64)"):
        "equivalent: the kernel writes three words; a fourth is never read",
    ("passes", "acc = np.zeros((2, KEYS), np.int64)", "acc = np.zeros((3, KEYS), np.int64)"):
        "equivalent: a third row that nothing writes or reads",
    **{("passes", f"{v} = np.empty(count + 1, np.uint32)", f"{v} = np.empty(count + 2, np.uint32)"):
       "equivalent: a larger list for the kernel to fill; only the `got` entries it wrote are returned"
       for v in ("out", "members")},
    ("passes", "if m >= n_cand:", "if m > n_cand:"):
        "equivalent: with m = n_cand the cut falls in the lowest candidate bucket with all of it needed, which "
        "chooses every candidate, as ALL does",
    ("passes", "return ALL, 0", "return ALL, 1"):
        "equivalent: no value falls in the ALL bucket (-1), so what is needed inside it is never taken: the "
        "collected list is empty",
    ("codes", "keep = q + 1  # 0x10000 for FLOAT, <= 0xFF80 for a frozen code",
     "keep = q + 2  # 0x10000 for FLOAT, <= 0xFF80 for a frozen code"):
        "equivalent for every code encode() makes: FLOAT + 2 still carries into bit 16 and a frozen code "
        "(at most 0xFF80) + 2 does not; only the NaN patterns 0xFFFE/0xFFFF differ, and 0xFFFE is never a code",
    **{("inq_format", line, line.replace(f"= {d}", f"= {m}")): "equivalent: a placeholder that serialize() sets "
       "before anything reads it" for line, d, ms in (
           ('stored: str = ""  # how serialize stored it: "packed", "entropy" or "float32"', '""', ('"XXXX"', "None")),
           ("nbytes: int = 0  # bytes of its data in the file (after the name and shape)", "0", ("1", "None")))
       for m in ms},
    ("inq_format", "n1: int | None = None", 'n1: int | None = ""'):
        "equivalent: n1 is read only for coded entries, and every coded entry is made with its n1",
    ("inq_format", 'bitv = np.unpackbits(raw[lo: lo + (n * bits + 7) // 8], bitorder="little")[: n * bits]',
     'bitv = np.unpackbits(raw[lo: lo + (n * bits + 8) // 8], bitorder="little")[: n * bits]'):
        "equivalent: one more byte read, when there is one, is cut off by the [: n * bits] that follows",
    ("inq_format", "if codes.size == 0:", "if codes.size == 1:"):
        "equivalent: an empty blob then goes through the entropy coder, whose output (a table of 2^bits "
        "frequencies and a lane state) is longer than the packed form, which is chosen; a one-weight blob "
        "is packed either way for the same reason",
    ("check", "if al in arrays and ai < len(arrays[al]):", "if al in arrays or ai < len(arrays[al]):"):
        "equivalent: a sharer reached here is a quantizable layer of the net, and one the caffemodel lacks "
        "was refused above (no weights for it), so `al in arrays` always holds",
    **{("inq_format", "normal = mag >= 0x800000", f"normal = mag {m}"):
       "equivalent: 2^-126 (bits 0x800000) is a power of two either way, and the subnormal branch's frexp gives "
       "it the same exponent, -126" for m in ("> 0x800000", ">= 8388609")},
    **{("inq_format", "codes = np.where(mag == 0, 0, ((b >> 31).astype(np.int32) << (bits - 1)) | np.clip(m, 0, "
        "127)).astype(np.uint8)", "codes = np.where(mag == 0, 0, ((b >> 31).astype(np.int32) << (bits - 1)) | "
        f"np.clip(m, {c})).astype(np.uint8)"):
       "equivalent: the codes are used only when every m lies in 1..2^(bits-2) (else the line after raises); "
       "the clip only keeps a bad value's m inside uint8 until then" for c in ("0, 128", "1, 127")},
    **{("inq_format", "mag = np.where(k >= -126, (np.clip(k, -126, 127) + 127).astype(np.uint32) << 23,",
        f"mag = np.where(k >= -126, (np.clip(k, {c}) + 127).astype(np.uint32) << 23,"):
       "equivalent: the normal branch is taken only for -126 <= k <= 127 (n1 above 127 is refused above); the "
       "clip only keeps the other lanes' shift in range" for c in ("-126, 128", "-127, 127")},
    ("inq_format", "np.uint32(1) << np.clip(k + 149, 0, 22).astype(np.uint32))",
     "np.uint32(1) << np.clip(k + 149, 0, 23).astype(np.uint32))"):
        "equivalent: the subnormal branch is taken only for k <= -127, k + 149 <= 22; the clip only keeps the "
        "other lanes' shift in range",
    ("export", '"bytes": e.nbytes, "sparsity": float(np.mean(e.array == 0)) if e.array.size else 0.0,',
     '"bytes": e.nbytes, "sparsity": float(np.mean(e.array == 0)) if e.array.size else 1.0,'):
        "equivalent: a coded entry has an n1, which only a blob with a nonzero weight has: never empty",
    ("lock", "os.ftruncate(fd, 0)", "os.ftruncate(fd, 1)"):
        "equivalent: the pid written next at offset 0 is at least one byte long and covers the byte kept",
    ("check", "if al in arrays and ai < len(arrays[al]):", "if al in arrays and ai <= len(arrays[al]):"):
        "equivalent: only blob 0 is ever checked (quantizable_blobs), and a layer is in the caffemodel's "
        "arrays only with at least one blob",
    ("check", "missing = [n for n in quantizable_blobs([(n, t, 1) for n, t in types.items()]) if n[0] not in arrays]",
     "missing = [n for n in quantizable_blobs([(n, t, 2) for n, t in types.items()]) if n[0] not in arrays]"):
        "equivalent: quantizable_blobs takes blob 0 of a layer with any blobs, 1 or 2 alike",
    ("atomic", "raise InqError(f\"{option} {out}: folder {os.path.dirname(out) or '.'} does not exist\")",
     "raise InqError(f\"{option} {out}: folder {os.path.dirname(out) or 'XX.XX'} does not exist\")"):
        "equivalent: a path without a folder lies in the working directory, which exists",
    **{("atomic", 'for chunk in iter(lambda: f.read(1 << 22), b""):', f'for chunk in iter(lambda: f.read({c}), b""):'):
       "equivalent: the read size only bounds memory; the hash of the chunks is that of the file (tested on a "
       "file of more than one chunk)" for c in ("2 << 22", "1 << 23")},
    ("state", "write_text_atomic(self.path, json.dumps(json_safe(d), indent=1, allow_nan=False))",
     "write_text_atomic(self.path, json.dumps(json_safe(d), indent=2, allow_nan=False))"):
        "equivalent: the indentation of campaign.json's text; its JSON is the same",
    ("state", "write_text_atomic(self.path, json.dumps(json_safe(d), indent=1, allow_nan=False))",
     "write_text_atomic(self.path, json.dumps(json_safe(d), indent=1, allow_nan=True))"):
        "equivalent: json_safe has already made every NaN and Inf null (tested), so allow_nan is never consulted",
    ("trainer", "lead = 0", "lead = 1"):
        "equivalent: a net's first layer has no bottoms (no layer before it makes one), so the count passes it "
        "either way",
    ("trainer", "if lead and batches > 0:", "if lead and batches >= 0:"):
        "equivalent: with 0 batches the loop below runs no pass",
    ("trainer", "if lead and batches > 0:", "if lead or batches > 0:"):
        "equivalent: lead is at least 1 (a net's first layer has no bottoms), and 0 batches run no pass",
    ("trainer", "return (it - 1) // ti if ti and it > 0 else 0", "return (it - 1) // ti if ti and it > 1 else 0"):
        "equivalent: at it = 1, (it - 1) // ti is 0 too",
    ("trainer", "loss = sum(v * weights_of_loss.get(k, 0.0) for k, v in outs.items())",
     "loss = sum(v * weights_of_loss.get(k, 1.0) for k, v in outs.items())"):
        "equivalent: every output is a blob of the net and blob_loss_weights names every blob, so the default "
        "is never read",
    ("trainer", "rate = done / max(time.perf_counter() - t0, 1e-9)",
     "rate = done / max(time.perf_counter() - t0, 2e-09)"):
        "equivalent: the floor only keeps a division by zero away when the clock has not moved; any tiny positive "
        "floor does",
    ("atomic", "mask = os.umask(0)", "mask = os.umask(1)"):
        "equivalent: the umask set here is put back on the next line; only the old value it returns is used",
    ("prune", "if target > 0 and target_count(size, target) >= size > 0:",
     "if target >= 0 and target_count(size, target) >= size > 0:"):
        "equivalent: a target of 0 counts 0 weights, never as many as a blob's size above 0",
    ("prune", "if target > 0 and target_count(size, target) >= size > 0:",
     "if target > 0 and target_count(size, target) >= size >= 0:"):
        "equivalent: Caffe builds no net with a weight blob of 0 elements (its fillers check count() > 0)",
    ("phases", 'raise InqError("internal error: frozen weights moved")  # never expected',
     'raise InqError("XXinternal error: frozen weights movedXX")  # never expected'):
        "equivalent: never raised (train_phase restores every frozen value after each block, and "
        "test_frozen holds that); its text cannot be observed",
    **{("phases", "text = caffe_solver_text(" + _TRY_ARGS, f"text = caffe_solver_text({m}"):
       why for m, why in (
           *((m, "equivalent: the solver tried in a child never snapshots (caffe_solver_text sets snapshot 0, and "
                  "Caffe reads the prefix only to snapshot), so its snapshot prefix is never used")
             for m in ('self._cfg(0), os.path.join(self._phase_dir(1), "inq"), self.s.iters(self.cfg, 0))',
                       'self._cfg(0), os.path.join(self._phase_dir(0), "XXinqXX"), self.s.iters(self.cfg, 0))')),
           ('self._cfg(0), os.path.join(self._phase_dir(0), "inq"), self.s.iters(self.cfg, 1))',
            "equivalent: the solver tried in a child is built, never stepped, and Caffe reads max_iter only when it "
            "steps"),
           ('self._cfg(1), os.path.join(self._phase_dir(0), "inq"), self.s.iters(self.cfg, 0))',
            "equivalent: phase 2's net is phase 1's, or (--act-from end) the same net with the package's quantizer "
            "layers in front of its weighted layers, which Caffe builds wherever it builds the net (the package is "
            "the one running)"))},
    **{("phases", f'with self._scratch_file(".{ext}", {data}) as {name}:',
        f'with self._scratch_file("XX.{ext}XX", {data}) as {name}:'):
       "equivalent: the suffix of a private scratch file's name; Caffe reads a solver prototxt by any name, and "
       "takes a solverstate for HDF5 only when its name ends in .h5"
       for ext, data, name in (("prototxt", "text.encode()", "path"),
                               ("solverstate", "st.SerializeToString()", "tmp"))},
    ("phases", 'st = caffe_io.read_binary_proto(sstate, caffe_io.pb2().SolverState(), "solverstate")',
     'st = caffe_io.read_binary_proto(sstate, caffe_io.pb2().SolverState(), "XXsolverstateXX")'):
        "equivalent: the name is shown only when the file does not parse, and every solverstate restored has "
        "passed the sha256 check of its snapshot (load_snapshot_state, newest_complete_snapshot) against the "
        "file Caffe wrote",
    ("act_placement", "q.python_param.param_str = param_str(bits, None, False)",
     "q.python_param.param_str = param_str(bits, None, True)"):
        "equivalent: a quantizer without f passes values through whatever its signedness, and calibration "
        "(set_quantizers) writes the signedness it saw",
    **{("state", "if i >= len(campaign) or abs(ph.portion - float(campaign[i])) > 1e-9:",
        f"if i >= len(campaign) or abs(ph.portion - float(campaign[i])) {c}"):
       "equivalent: a recorded portion is its campaign's (a difference of 0) or another decimal portion "
       "(a difference far above 2e-9)" for c in (">= 1e-9:", "> 2e-09:")},
    ("report", 'write_text_atomic(os.path.join(out, "report.json"), json.dumps(rep, indent=1, allow_nan=False))',
     'write_text_atomic(os.path.join(out, "report.json"), json.dumps(rep, indent=1, allow_nan=True))'):
        "equivalent: json_safe has already made every NaN and Inf null (tested), so allow_nan is never consulted",
    ("report", 'write_text_atomic(os.path.join(out, "report.json"), json.dumps(rep, indent=1, allow_nan=False))',
     'write_text_atomic(os.path.join(out, "report.json"), json.dumps(rep, indent=2, allow_nan=False))'):
        "equivalent: the indentation of report.json's text; its JSON is the same",
    ("inq_format", "if n > len(payload) // 6:  # an entry takes at least kind, name length, index and ndim",
     "if n > len(payload) / 6:  # an entry takes at least kind, name length, index and ndim"):
        "equivalent: for a whole number n, n > x / 6 exactly when n > x // 6",
})


def reason(mod: str, line: str, new: str) -> str | None:
    """Why a surviving mutant is equivalent, or None."""
    line, new = line.strip(), new.strip()
    at = [i for i in range(len(line)) if line.startswith("reshape(-1)", i)]
    if any(new == line[:i] + "reshape(-2)" + line[i + 11:] for i in at) or \
            (at and new == line.replace("reshape(-1)", "reshape(-2)")):
        return _WHY_RESHAPE
    if re.match(r"^[\w.]+: [^=]*\|", line) and "&" not in line and new.replace("&", "|") == line:
        return _WHY_ANNOTATION
    if line.startswith("_CHUNK = ") and new.startswith("_CHUNK = ") and "-" not in new and ">>" not in new:
        return _WHY_CHUNK  # a larger chunk (a chunk of 0 or below would not be equivalent)
    return EQUIVALENT.get((mod, line, new))


def mutated_line(source: str, line: str, index: int, line_number: int, filename: str) -> str | None:
    """The text of `line` after mutmut's mutation `index` (None if mutmut finds none)."""
    from mutmut import Context, RelativeMutationID, mutate
    ctx = Context(source=source, filename=filename,
                  mutation_id=RelativeMutationID(line=line, index=index, line_number=line_number))
    out, n = mutate(ctx)
    if not n:
        return None
    new = out.split("\n")
    old = source.split("\n")
    changed = [b for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes()
               if tag != "equal" for b in new[j1:j2]]
    return "\n".join(changed) if changed else ""


def tests_for(mod: str) -> list[str]:
    """A core module: its own unit tests first, then the other core modules' ones. A
    campaign-side module: its listed tests."""
    if mod in CAMPAIGN:
        return CAMPAIGN[mod]
    return [f"tests/unit/test_{m}.py" for m in [mod] + [o for o in CORE if o != mod]]


def source_path(mod: str) -> str:
    """python/inq_layer/[SUBPACKAGE/]MOD.py, the library's module of that name: tools/ holds
    the commands (argparse and main), which share names with what they run."""
    pkg = os.path.join(ROOT, "python", "inq_layer")
    found = [p for p in glob.glob(os.path.join(pkg, f"{mod}.py")) + glob.glob(os.path.join(pkg, "*", f"{mod}.py"))
             if os.path.basename(os.path.dirname(p)) != "tools"]
    if len(found) != 1:
        raise InqError(f"no single module {mod}.py in python/inq_layer/ or a subpackage but tools/ "
                       f"(found {len(found)})")
    return found[0]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _rows(cache: str, mod: str) -> list[tuple]:
    """(pk, line text, line number, index, status, tested_against_hash) of `mod`'s mutants in mutmut's cache."""
    if not os.path.exists(cache):
        raise InqError(f"{cache}: no mutmut cache (run scripts/mutate.sh {mod} first)")
    filename = os.path.relpath(source_path(mod), ROOT)
    rows = [r[1:] for r in sqlite3.connect(cache).execute(
        "select s.filename, m.id, l.line, l.line_number, m.'index', m.status, m.tested_against_hash from mutant m "
        "join line l on m.line = l.id join sourcefile s on l.sourcefile = s.id").fetchall()
        if os.path.normpath(r[0]) == filename]
    if not rows:
        raise InqError(f"{cache}: no mutants of {filename} (run scripts/mutate.sh {mod} first)")
    return rows


def tests_hash() -> str:
    """mutmut's hash of the test files (setup.cfg's tests_dir): a survivor counts only if it
    survived these tests."""
    from mutmut.cache import hash_of_tests
    return hash_of_tests([os.path.join(ROOT, "tests")])


def stale(cache: str, mod: str, source: str, tests: str) -> list[int]:
    """The mutants of `mod`'s current lines that no test run has detected and that last ran
    against other tests than `tests`. mutmut's warm run never tests them again when their
    line's text appears earlier in the module too (it looks the line up by its text alone and
    takes the first copy's status): mutate.sh runs each of them by its id."""
    src_lines = source.split("\n")
    return [pk for pk, line, number, _, status, tested in _rows(cache, mod)
            if 0 <= number < len(src_lines) and src_lines[number] == line and status not in DETECTED
            and tested != tests]


def measure(cache: str, mod: str, source: str, rev: str, tests: str | None = None) -> dict:
    """One module's counts and survivors from mutmut's cache, for its `source` (at commit
    `rev`); with `tests` (tests_hash), a survivor of other tests counts as untested."""
    filename = os.path.relpath(source_path(mod), ROOT)
    src_lines = source.split("\n")
    counts: Counter = Counter()
    survivors = []
    for _, line, number, index, status, tested in _rows(cache, mod):
        if line not in src_lines:
            continue  # the cache remembers a line that the source no longer has
        if not (0 <= number < len(src_lines) and src_lines[number] == line):
            status = "untested"  # the line moved since this mutant ran: mutmut renumbers it at its next run
        elif tests is not None and status not in DETECTED and tested != tests:
            status = "untested"  # it survived tests that have changed since
        counts[status] += 1
        if status in DETECTED or status == "untested":
            continue
        new = mutated_line(source, line, index, number, filename)
        survivors.append({"line": number + 1, "original": line, "mutated": new or "", "status": status})
    return {"module": mod, "rev": rev, "source_sha256": sha256(source), "counts": dict(counts),
            "survivors": sorted(survivors, key=lambda s: (s["line"], s["mutated"]))}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def kept(mod: str) -> dict | None:
    path = os.path.join(KEPT, f"{mod}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def is_current(result: dict | None) -> bool:
    """The kept result was measured on the module's source as it is now."""
    if result is None:
        return False
    with open(source_path(result["module"])) as f:
        return sha256(f.read()) == result["source_sha256"]


def tested_so_far(mod: str) -> int:
    """How many mutants of lines `mod` still has its carried cache holds as tested (mutmut
    follows a line that moved, by a diff of the old and new source)."""
    cache = os.path.join(STATE, f"{mod}.mutmut-cache")
    if not os.path.exists(cache):
        return 0
    with open(source_path(mod)) as f:
        src_lines = set(f.read().split("\n"))
    try:
        rows = _rows(cache, mod)
    except InqError:  # the cache holds none of this source's mutants yet
        return 0
    return sum(1 for _, line, _, _, status, _ in rows if status != "untested" and line in src_lines)


def _tier(title: str, mods: list[str], results: dict) -> tuple[list[str], list[tuple], int]:
    """A tier's section (score, table, stale modules), its survivors with their reasons,
    and how many of them are unexplained."""
    current = [m for m in mods if is_current(results[m])]
    counts = {m: Counter(results[m]["counts"]) for m in current}
    survivors = [(m, s, reason(m, s["original"], s["mutated"])) for m in current for s in results[m]["survivors"]]
    total = sum(sum(c.values()) for c in counts.values())
    untested = sum(c["untested"] for c in counts.values())
    detected = sum(c[s] for c in counts.values() for s in DETECTED)
    equivalent = sum(1 for *_, why in survivors if why)
    unexplained = len(survivors) - equivalent
    tested = total - untested
    lines = [f"## {title}", ""]
    if current:
        lines += [f"**Score over {len(current)} of {len(mods)} modules: {detected} of {tested} mutants detected "
                  f"({100 * detected / max(tested, 1):.1f} %); {equivalent} survivors are equivalent (reasons "
                  f"below), {unexplained} unexplained; {detected} of {tested - equivalent} non-equivalent mutants "
                  f"detected ({100 * detected / max(tested - equivalent, 1):.1f} %).**"
                  + (f" {untested} mutants not tested yet." if untested else ""), "",
                  "| module | measured at | mutants | killed | timeout | survived | untested |",
                  "|---|---|---|---|---|---|---|"]
        for m in current:
            c = counts[m]
            lines.append(f"| {m}.py | {results[m]['rev']} | {sum(c.values())} | {c['ok_killed'] + c['ok_suspicious']} "
                         f"| {c['bad_timeout']} | {c['bad_survived']} | {c['untested']} |")
        lines.append("")
    else:
        lines += ["**No module's kept result matches its current source.**", ""]
    stale = [m for m in mods if m not in current]
    if stale:
        def was(m: str) -> str:
            r = results[m]
            tested = tested_so_far(m)
            if tested:
                return f"{m}.py (not finished: {tested} mutants of its current lines tested, cache in mutation_state/)"
            if r is None:
                return f"{m}.py (never run)"
            c = Counter(r["counts"])
            return f"{m}.py (measured at {r['rev']}: {sum(c.values())} mutants, {c['bad_survived']} survived)"
        lines += ["Not counted, since their source changed after the run (or they never ran); `scripts/mutate.sh "
                  + " ".join(stale) + "` measures them: " + "; ".join(map(was, stale)) + ".", ""]
    return lines, survivors, unexplained


def render() -> tuple[list[str], int]:
    """docs/MUTATION.md's lines, and how many survivors of current modules are unexplained."""
    results = {m: kept(m) for m in MODULES}
    lines = ["# Mutation testing", "",
             "Written by scripts/mutation_report.py from the results `make mutate` keeps per module in "
             "docs/mutation/ (scripts/mutate.sh: mutmut 2.5.1, one module at a time, each mutant run against the "
             "module's tests until one fails; `scripts/mutation_report.py --tests MODULE` lists them). A module's "
             "result counts while its source is the one that was mutated. A timeout is a mutant whose tests ran "
             "far beyond mutmut's limit (e.g. a loop that no longer ends): the tests stop it, so it counts as "
             "detected.", ""]
    core, core_survivors, core_unexplained = _tier(
        "The numpy core", CORE, results)
    camp, camp_survivors, camp_unexplained = _tier(
        "The campaign side and the deploy tools", list(CAMPAIGN), results)
    lines += ["Two tiers. The numpy core: each module with its own unit tests first, then the other fast unit "
              "tests (seconds; the C kernels are not mutated, their tests compare them with numpy). The campaign "
              "side and the deploy tools: each module with the tests on tiny Caffe nets that hold its promises "
              "(resume, damaged state, the report, check and export; the Caffe edge that reads and checks "
              "a user's files and tries what Caffe would abort on; the options; which weights freeze when; "
              "test passes and the log; the activation quantizer layer, its placement and calibration), "
              "seconds to minutes a mutant. mutation_state/ carries mutmut's cache of each module, so a run "
              "stopped in one checkout goes on in the next.", ""]
    lines += core + camp + ["## Survivors", ""]
    survivors = core_survivors + camp_survivors
    for m, s, why in survivors:
        lines += [f"**{m}.py line {s['line']}** ({s['status']}): " + (why if why else "UNEXPLAINED: a test is missing"),
                  "", "```diff", f"- {s['original'].strip()}", *(f"+ {x.strip()}" for x in s["mutated"].split("\n")),
                  "```", ""]
    if not survivors:
        lines.append("None measured on the current sources.")
    return lines, core_unexplained + camp_unexplained


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="MODULE", choices=MODULES, help="record MODULE from mutmut's cache")
    ap.add_argument("--current", metavar="MODULE", choices=MODULES, help="exit 0 if MODULE's result is current")
    ap.add_argument("--tests", metavar="MODULE", choices=MODULES, help="print the tests MODULE's mutants run")
    ap.add_argument("--modules", action="store_true", help="print every module, core first")
    ap.add_argument("--source", metavar="MODULE", choices=MODULES, help="print MODULE's source file")
    ap.add_argument("--stale", metavar="MODULE", choices=MODULES,
                    help="print the ids of MODULE's undetected mutants that ran against other tests")
    ap.add_argument("--cache", default=os.path.join(ROOT, ".mutmut-cache"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "MUTATION.md"))
    ap.add_argument("--rev", default="HEAD", help="the commit whose sources were mutated")
    a = ap.parse_args()
    if a.current:
        return 0 if is_current(kept(a.current)) else 1
    if a.tests:
        print(" ".join(tests_for(a.tests)))
        return 0
    if a.modules:
        print(" ".join(MODULES))
        return 0
    try:
        if a.source:
            print(os.path.relpath(source_path(a.source), ROOT))
            return 0
        if a.stale:
            source = _git("show", f"{a.rev}:{os.path.relpath(source_path(a.stale), ROOT)}")
            print(" ".join(map(str, stale(a.cache, a.stale, source, tests_hash()))))
            return 0
        if a.keep:
            source = _git("show", f"{a.rev}:{os.path.relpath(source_path(a.keep), ROOT)}")
            result = measure(a.cache, a.keep, source, _git("rev-parse", "--short", a.rev).strip(), tests_hash())
            os.makedirs(KEPT, exist_ok=True)
            write_text_atomic(os.path.join(KEPT, f"{a.keep}.json"), json.dumps(result, indent=1) + "\n")
            if not is_current(result):
                print(f"warning: {a.keep}.py differs from its source at {a.rev}: the result does not count")
    except InqError as e:
        sys.exit(f"error: {e}")
    lines, unexplained = render()
    write_text_atomic(a.out, "\n".join(lines).rstrip() + "\n")
    print(f"{os.path.relpath(a.out, ROOT)}: {unexplained} unexplained survivors")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())

"""One run of phases as the training commands make it: the phases into --out, the
command's own verdict on the final model, the reports and the summary printed."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # annotations only: run() imports the campaign when it runs
    from ..caffe_edge.solver_config import SolverConfig
    from .phases import PhaseSettings
    from .state import Record


def run(cfg: SolverConfig, settings: PhaseSettings, resume: bool,
        verdict: Callable[[Record], tuple[bool, list[str]]], done: str) -> tuple[Record, bool]:
    """The phases into settings.out, then `verdict(record)` (ok, lines to print), the
    reports and their summary. Returns (record, ok)."""
    from .inputs import campaign_log
    from .phases import Campaign
    from .report import build_report, markdown, write_reports
    with campaign_log(settings.out) as log:
        record = Campaign(cfg, settings, log).run(resume)
        ok, lines = verdict(record)
        for line in lines:
            print(line)
        rep = build_report(record, ok)
        write_reports(settings.out, rep)
        print(markdown(rep))
        print(f"{done}: {record.final_model}\nreports: {settings.out}/report.md, report.json, accuracy.png")
    return record, ok

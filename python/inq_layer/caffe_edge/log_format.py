"""Log lines in Caffe's glog format, so tools/extra/parse_log.py reads the driver's log."""
from __future__ import annotations

import datetime
import os
import sys
from typing import TextIO


class CaffeLog:
    def __init__(self, stream: TextIO = sys.stdout, file: TextIO | None = None):
        self.stream, self.file = stream, file
        self.pid = os.getpid()

    def __call__(self, msg: str) -> None:
        now = datetime.datetime.now()
        line = f"I{now:%m%d %H:%M:%S.%f} {self.pid} solver_driver.py:0] {msg}\n"
        for s in (self.stream, self.file):
            if s is not None:
                s.write(line)
                s.flush()

    def iteration(self, it: int, loss: float, outputs: dict[str, float], lr: float,
                  rate: float | None = None) -> None:
        speed = f" ({rate:.4g} iter/s)" if rate else ""
        self(f"Iteration {it}{speed}, loss = {loss:.6g}")
        for i, (name, v) in enumerate(outputs.items()):
            self(f"    Train net output #{i}: {name} = {v:.6g}")
        self(f"Iteration {it}, lr = {lr:.6g}")

    def test(self, it: int, net_index: int, results: dict[str, float]) -> None:
        self(f"Iteration {it}, Testing net (#{net_index})")
        for i, (name, v) in enumerate(results.items()):
            self(f"    Test net output #{i}: {name} = {v:.6g}")

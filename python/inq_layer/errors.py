"""User-facing errors: one line that names the file, layer or value and what to do."""
from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable, NoReturn


class InqError(Exception):
    """A problem with the user's input or environment, reported as one line."""


def cli_main(fn: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command-line entry point: InqError/ValueError -> 'error: ...' and exit 2."""
    @functools.wraps(fn)
    def run(*args, **kwargs) -> int:
        try:
            return fn(*args, **kwargs) or 0
        except (InqError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # a path the checks could not foresee (a read-only disk, ...)
            where = e.filename or "a file"
            print(f"error: {where}: {e.strerror or e}", file=sys.stderr)
            return 2
        except MemoryError:
            print("error: out of memory (an input declares more data than this machine holds; "
                  "nothing was written)", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return run


class ArgParser(argparse.ArgumentParser):
    """argparse with its errors as one `error:` line (cli_main prints it, exit 2) instead
    of the usage block."""

    def error(self, message: str) -> NoReturn:
        raise InqError(f"{message} (see --help)")

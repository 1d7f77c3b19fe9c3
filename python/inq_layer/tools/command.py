"""What every command shares: argparse with one-line errors, and the wrapper that turns a
user's bad input (InqError, an OSError on a path, an interrupt) into one `error:` line and
exit 2, while a bug anywhere else keeps its traceback."""
from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable, NoReturn

from ..errors import InqError


LINE_MAX = 2000  # characters of an error line; a 70,000-character layer name is cut


def one_line(message: str) -> str:
    """The message on one line of at most LINE_MAX characters: its start and its end."""
    message = " ".join(message.splitlines())
    if len(message) <= LINE_MAX:
        return message
    cut = len(message) - LINE_MAX + 100
    return f"{message[:LINE_MAX * 3 // 4]} ...[{cut:,} characters cut]... {message[-(LINE_MAX // 4 - 100):]}"


def _printable_anywhere() -> None:
    """A terminal or pipe that cannot encode a character of a layer name or path (say
    PYTHONIOENCODING=ascii) shows it as a backslash escape rather than failing the command."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def cli_main(fn: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command-line entry point: InqError -> 'error: ...' and exit 2. Only the user's
    input and machine reach here as errors (InqError, OSError, MemoryError: a file declared
    more data than this machine holds); a ValueError or anything else is a bug and keeps
    its traceback."""
    @functools.wraps(fn)
    def run(*args, **kwargs) -> int:
        _printable_anywhere()
        try:
            return fn(*args, **kwargs) or 0
        except InqError as e:
            print(f"error: {one_line(str(e))}", file=sys.stderr)
            if getattr(e, "details", None):  # what the user needs beyond the line (their own frames)
                print(e.details, file=sys.stderr)
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


def data_command(prog: str, doc: str, default_out: str, make: Callable[[str, str], None]) -> Callable[..., int]:
    """The command line of a data set: `python -m PROG [--out DIR] [--downloads DIR]`."""
    @cli_main
    def main(argv: list[str] | None = None) -> int:
        ap = ArgParser(prog=prog, description=doc.splitlines()[0])
        ap.add_argument("--out", default=default_out, help=f"folder of the LMDBs (default {default_out})")
        ap.add_argument("--downloads", default="build/downloads", help="folder of the downloaded package "
                        "(default build/downloads)")
        a = ap.parse_args(argv)
        from ..atomic import check_not_a_file
        check_not_a_file(a.out, "--out")
        check_not_a_file(a.downloads, "--downloads")
        make(a.out, a.downloads)
        return 0
    return main

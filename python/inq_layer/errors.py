"""User-facing errors: one line that names the file, layer or value and what to do."""


class InqError(Exception):
    """A problem with the user's input or environment, reported as one line."""

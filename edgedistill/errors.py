"""The one error type a user sees: a single line naming the file and the problem."""


def one_line(text: str) -> str:
    """text with every non-printable character (newlines, line separators, controls) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class EdgeDistillError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""


class ConfigError(EdgeDistillError):
    """The project config (or something it points at) is invalid."""


class DataError(EdgeDistillError):
    """The data set cannot be loaded or is unusable."""


class CheckpointError(EdgeDistillError):
    """A model checkpoint is missing, corrupt or does not fit its architecture."""


class GateError(EdgeDistillError):
    """An artifact failed a quality gate (e.g. float ops inside an int8 model)."""

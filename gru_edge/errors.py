"""The one base class of the errors a user can act on.

The CLI prints these as one line (``error: ...``) instead of a traceback; anything else that
escapes is a bug and keeps its traceback.
"""


class GruEdgeError(Exception):
    """A problem with the user's input or environment; the message says what and what to do."""


class AudioError(GruEdgeError):
    """Audio that cannot be used: the message names the source and the problem."""


class ConfigError(GruEdgeError):
    """A configuration that cannot be used: the message names the key and the problem."""

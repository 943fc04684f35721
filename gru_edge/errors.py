"""The errors a user can act on, and the one place where they become an exit status.

Every entry point (the `gru-edge` commands, `python -m gru_edge.runtime.replay`) prints these
as one line (``error: ...``) instead of a traceback; anything else that escapes is a bug and
keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class GruEdgeError(Exception):
    """A problem with the user's input or environment; the message says what and what to do."""


class AudioError(GruEdgeError):
    """Audio that cannot be used: the message names the source and the problem."""


class ConfigError(GruEdgeError):
    """A configuration that cannot be used: the message names the key and the problem."""


def exit_status(run: Callable[[], object], program: str) -> int:
    """Runs a command's work and turns how it ended into an exit status: 0, or 2 after one
    line "PROGRAM: error: ..." for a problem the user can act on (`GruEdgeError`, or an
    `OSError` about a path they gave), or 130 after Ctrl-C. Anything else is a bug and keeps
    its traceback. Every entry point goes through here, so they all fail the same way."""
    try:
        run()
    except (GruEdgeError, OSError) as e:
        print(f"{program}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0

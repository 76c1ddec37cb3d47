"""The one error type of network files and of the networks loaded from them.

It lives apart from :mod:`jacviz.nets.networks` (which loads files) and
:mod:`jacviz.nets.hosted` (which runs a network's code in a child process) because both raise
it: the loader picks hosting for files that carry code, so hosting must not depend on the
loader, and the error they share sits below both.
"""

from __future__ import annotations

__all__ = ["NetworkError"]


class NetworkError(ValueError):
    """A file that cannot be used as a network (or a network that cannot be saved).

    ``str(error)`` is one sentence for the user: it names the file, says what is wrong and,
    where useful, what to do instead. It subclasses :class:`ValueError`, so callers that already
    catch bad input keep working.
    """

"""What the parser child gives up before it reads an untrusted file, and what the parent closes to it (Linux;
elsewhere these do nothing): see :mod:`indexer.parse.worker`."""

from __future__ import annotations

import ctypes
import logging
import signal

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS = 1, 4, 38
_CAP_DAC_READ_SEARCH = 2
_CAPABILITY_VERSION_3 = 0x20080522


def die_with_parent() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # not Linux: end of stdin still stops the child


def confine() -> None:
    """Give up what parsing does not need, before the first untrusted file: no new privileges ever, and every
    capability but reading files (a root parent's child would otherwise keep ``CAP_SYS_PTRACE`` and could read the
    parent's environment despite :func:`make_non_dumpable`)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    try:
        header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
        keep = 1 << _CAP_DAC_READ_SEARCH
        data = (ctypes.c_uint32 * 6)(keep, keep, 0, 0, 0, 0)  # (effective, permitted, inheritable) x 2 words
        if ctypes.CDLL("libc.so.6", use_errno=True).capset(header, data) != 0:
            logger.debug("capset failed (errno %d)", ctypes.get_errno())
    except (OSError, AttributeError):  # not Linux
        pass


def _prctl(*args: int) -> int:
    """``prctl(2)``; -1 where there is none (not Linux)."""
    try:
        return int(ctypes.CDLL("libc.so.6", use_errno=True).prctl(*args, *[0] * (5 - len(args))))
    except (OSError, AttributeError):
        return -1


def make_non_dumpable() -> None:
    """Close this process's ``/proc/<pid>/environ`` and memory to processes of the same user without
    ``CAP_SYS_PTRACE`` (the parser child above all). Also disables core dumps of this process."""
    if _prctl(_PR_SET_DUMPABLE, 0) != 0:
        logger.debug("prctl(PR_SET_DUMPABLE) is not available here")

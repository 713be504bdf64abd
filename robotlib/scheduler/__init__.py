"""The scheduler behind ``rpa scheduler``: fires ``schedules/*.toml`` jobs.

One scheduler is active per database; others wait as standby. Operators pause and
resume jobs (:class:`PauseStore`, ``Scheduler.pause``) from any process. See
:mod:`robotlib.scheduler._service` for how it works.
"""

from robotlib.scheduler._firings import Firing, FiringStatus, FiringStore
from robotlib.scheduler._lock import LockHolder, current_holder
from robotlib.scheduler._pauses import Pause, PauseStore
from robotlib.scheduler._service import JobStatus, Scheduler, SchedulerOptions

__all__ = [
    "Firing",
    "FiringStatus",
    "FiringStore",
    "JobStatus",
    "LockHolder",
    "Pause",
    "PauseStore",
    "Scheduler",
    "SchedulerOptions",
    "current_holder",
]

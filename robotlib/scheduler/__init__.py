"""The scheduler behind ``rpa scheduler``: fires ``schedules/*.toml`` jobs.

One scheduler is active per database; others wait as standby. See
:mod:`robotlib.scheduler._service` for how it works.
"""

from robotlib.scheduler._firings import Firing, FiringStatus, FiringStore
from robotlib.scheduler._lock import LockHolder, current_holder
from robotlib.scheduler._service import JobStatus, Scheduler, SchedulerOptions

__all__ = [
    "Firing",
    "FiringStatus",
    "FiringStore",
    "JobStatus",
    "LockHolder",
    "Scheduler",
    "SchedulerOptions",
    "current_holder",
]

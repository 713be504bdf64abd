"""The scheduler behind ``rpa scheduler``: fires ``schedules/*.toml`` jobs.

One scheduler is active per database; others wait as standby. Its rooms:

- :class:`Scheduler` (:mod:`._daemon`): leadership (:mod:`._lock`), the APScheduler
  job store kept in sync with the files (:mod:`._jobs`), serving;
- :mod:`._firer`: a firing's run, preflight and deadline check, each recorded
  (:mod:`._firings`) and, when it needs attention, told (:mod:`._alerts`);
- :class:`ScheduleService` (:mod:`._service`): what the CLI and the console use to
  read, pause (:mod:`._pauses`) and resume jobs without a daemon.
"""

from robotlib.scheduler._daemon import Scheduler, SchedulerOptions
from robotlib.scheduler._firings import Firing, FiringStatus, FiringStore
from robotlib.scheduler._lock import LockHolder, current_holder
from robotlib.scheduler._pauses import Pause, PauseStore
from robotlib.scheduler._service import JobStatus, ScheduleService

__all__ = [
    "Firing",
    "FiringStatus",
    "FiringStore",
    "JobStatus",
    "LockHolder",
    "Pause",
    "PauseStore",
    "ScheduleService",
    "Scheduler",
    "SchedulerOptions",
    "current_holder",
]

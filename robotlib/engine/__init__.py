"""The engine: runs one robot in one worker process against a work queue.

Its rooms, in the order an item meets them:

- :mod:`.intake`: the input's rows become items (validated, compared with each
  other and with the queue, a bad row enqueued as a business exception);
- :mod:`.loop`: :class:`Engine`, the transaction loop (setup, claim, process,
  record, teardown; restarts after a system exception, stops after too many);
- :mod:`.items`: one claimed item's stages under a renewed lease, its outcome
  recorded; :mod:`.artifacts`: the screenshots and scrubbed traces a failure leaves;
  :mod:`.applications`: the robot's open applications, stopped without raising;
- :mod:`.report`: the run's ``report.xlsx``; :mod:`.runs`: run ids, exit codes and
  how a run ends; :mod:`.preflight`: setup and the robot's checks, no queue.

Other packages import from here, never from the rooms.
"""

from robotlib.engine.intake import DryRunReport
from robotlib.engine.loop import Engine
from robotlib.engine.preflight import PreflightResult
from robotlib.engine.runs import (
    EXIT_FAILED_ITEMS,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_STOPPED,
    RunObserver,
    RunResult,
    coordinator_of,
    dead_run_counts,
    ended,
    new_run_id,
    run_started_at,
)
from robotlib.queue.models import Outcome

__all__ = [
    "EXIT_FAILED_ITEMS",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_STOPPED",
    "DryRunReport",
    "Engine",
    "Outcome",
    "PreflightResult",
    "RunObserver",
    "RunResult",
    "coordinator_of",
    "dead_run_counts",
    "ended",
    "new_run_id",
    "run_started_at",
]

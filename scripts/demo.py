"""The demo behind `make demo`: the sandbox EPJ, then the example robots on it.

Starts the sandbox on 127.0.0.1 (a fresh database), checks the first robot with
`rpa preflight`, runs each example robot with `rpa run` exactly as a user would,
prints what happened and where the logs and reports are, stops the sandbox, and
shows when the robots would run at night (`rpa schedules`). The demo keeps its own
work queue (.rpa/demo.db), so it can be run again and again.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from robotlib.queue import open_backend
from robotlib.queue.models import ItemState
from sandbox import SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parents[1]
ROBOTS = ("lab_results", "daily_report")
DATABASE = ROOT / ".rpa" / "demo.db"
DATABASE_URL = f"sqlite:///{DATABASE.as_posix()}"


def _port(preferred: int = 8765) -> int:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port: int = free.getsockname()[1]
        return port


def main() -> int:
    """Run the demo; return the exit code of the worst robot run."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)
    rpa = str(Path(sys.executable).with_name("rpa"))
    worst = 0
    with tempfile.TemporaryDirectory(prefix="rpa-demo-") as scratch:
        config = SandboxConfig(db_path=Path(scratch) / "sandbox.db")
        with SandboxServer(config, port=_port()) as server:
            print(f"Sandbox EPJ listening on {server.url}")
            print("  log in as robot / robot-pass-1 (or nurse / nurse-pass-1)\n")
            env = {
                **os.environ,
                "RPA_DATABASE_URL": DATABASE_URL,
                "RPA_CRED_SANDBOX_URL": server.url,
                "RPA_CRED_SANDBOX_USERNAME": "robot",
                "RPA_CRED_SANDBOX_PASSWORD": "robot-pass-1",
            }
            print(f"$ rpa preflight {ROBOTS[0]}")
            checked = subprocess.run(
                [rpa, "--project", str(ROOT), "preflight", ROBOTS[0]],
                env=env,
                check=False,
            )
            worst = max(worst, checked.returncode)
            print()
            for robot in ROBOTS:
                print(f"$ rpa run {robot}")
                done = subprocess.run(
                    [rpa, "--project", str(ROOT), "run", robot], env=env, check=False
                )
                worst = max(worst, done.returncode)
                print()
        print("Sandbox stopped.\n")
    _summarise()
    print("\nWhen they run at night (schedules/nightly.toml):\n$ rpa schedules")
    env = {**os.environ, "RPA_DATABASE_URL": DATABASE_URL}
    subprocess.run([rpa, "--project", str(ROOT), "schedules"], env=env, check=False)
    return worst


def _summarise() -> None:
    backend = open_backend(DATABASE_URL)
    try:
        print("Summary")
        for robot in ROBOTS:
            counts = backend.counts(robot)
            runs = backend.runs(robot, limit=1)
            print(
                f"  {robot}: done {counts[ItemState.DONE]}, business exceptions "
                f"{counts[ItemState.BUSINESS_EXCEPTION]}, failed "
                f"{counts[ItemState.FAILED]}"
            )
            if runs:
                folder = ROOT / "logs" / robot / runs[0].id
                print(f"    log:    {folder / 'events.jsonl'}")
                for report in sorted(folder.glob("*.xlsx")):
                    print(f"    report: {report}")
    finally:
        backend.close()
    print(
        "\nReview it as an operator would (the demo has its own queue):\n"
        f"  export RPA_DATABASE_URL={DATABASE_URL}\n"
        "  .venv/bin/rpa runs\n"
        "  .venv/bin/rpa exceptions lab_results\n"
        "  .venv/bin/rpa logs <run-id> --level warning\n"
        '  .venv/bin/rpa exceptions resolve <id> --note "checked by hand"'
    )


if __name__ == "__main__":
    sys.exit(main())

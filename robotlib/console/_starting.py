"""Runs started by people: a robot now, or an uploaded input checked, then run.

``/robots`` lists the project's robots. An operator may

- start one now (``POST /robots/{robot}/run``): ``rpa run ROBOT`` with its own
  source, in a process of its own (it outlives the request, and the console);
- upload an input file (``POST /robots/{robot}/upload``): it is kept under
  ``.rpa/uploads/<time>-<sha256>/`` (owner-only, under its name as the page shows
  it: a CPR number in a file name is masked) and dry-run: the page
  shows what a run would enqueue, which rows would be refused and why, and what
  is in the queue already. A file the robot cannot read is refused with the
  reader's reason (file, sheet, row, column) and not kept;
- confirm (``POST /robots/{robot}/uploads/{upload}/run``): ``rpa run ROBOT --input
  FILE`` on exactly the file checked (its SHA-256 is in its name and checked).

Each start, check and refusal is audited (``run_started``, ``upload_checked``,
``upload_refused``) with the operator's name; the run records who started it in
the audit only, as scheduled runs record their firing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from robotlib.console._accounts import Session
from robotlib.console._masking import shown_text
from robotlib.console._pages import back_to, catalogue_of, render
from robotlib.console._security import Operator, Viewer, check_csrf, console_of
from robotlib.engine import new_run_id
from robotlib.processes import rpa_command, spawn, tail
from robotlib.project import Project

__all__ = ["MAX_UPLOAD_BYTES", "add_start_routes"]

#: The largest input file the console takes (an export of a year is far less).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: An upload's stored name: when, its SHA-256, its suffix.
_UPLOAD = re.compile(
    r"(?P<at>\d{8}T\d{6}Z)-(?P<sha>[0-9a-f]{64})(?P<suffix>\.[a-z0-9]{1,8})?"
)
#: How long a start waits for the run to record itself before showing its page.
_START_WAIT_S = 30.0


def add_start_routes(app: FastAPI) -> None:
    """Add ``/robots`` and the run-now, upload and confirm actions."""

    @app.get("/robots", response_class=HTMLResponse)
    def robots_page(request: Request, session: Viewer) -> Response:
        project = console_of(request).project
        robots, problems = project.robots()
        return render(
            request,
            "robots.html",
            {
                "title": catalogue_of(request).gettext("Robots"),
                "robots": sorted(robots.values(), key=lambda r: r.robot.name),
                "problems": [str(p) for p in problems],
            },
        )

    @app.post("/robots/{robot}/run")
    def run_now(
        request: Request,
        session: Operator,
        robot: str,
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        project = _acting(request, session, csrf_token, robot)
        run_id = _start(request, project, robot, None)
        project.backend.record_audit(
            actor=session.user, action="run_started", note=f"{robot} run {run_id}: now"
        )
        return _to_run(request, project, robot, run_id)

    @app.post("/robots/{robot}/upload", response_class=HTMLResponse)
    def upload(
        request: Request,
        session: Operator,
        robot: str,
        file: Annotated[UploadFile, File()],
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        project = _acting(request, session, csrf_token, robot)
        gettext = catalogue_of(request).gettext
        name = shown_text(Path(file.filename or "upload").name, clear=False)
        data = file.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            reason = gettext("the file is larger than %(mb)d MB") % {
                "mb": MAX_UPLOAD_BYTES // 1024 // 1024
            }
            return _refused(request, project, session.user, robot, name, reason)
        stored = _store(project, data, name)
        try:
            report = project.engine(robot).dry_run(input_path=stored)
        except Exception as exc:  # any reader's or robot source's complaint
            shutil.rmtree(stored.parent, ignore_errors=True)
            reason = shown_text(str(exc).replace(str(stored), name), clear=False)
            return _refused(request, project, session.user, robot, name, reason)
        due = report.due_in_queue + len(report.new) + len(report.corrected)
        sha = hashlib.sha256(data).hexdigest()
        project.backend.record_audit(
            actor=session.user,
            action="upload_checked",
            note=(
                f"{robot}: {name} (sha256 {sha}): {report.rows} rows, "
                f"{len(report.new)} new, {len(report.invalid)} invalid"
            ),
        )
        return _upload_page(
            request,
            robot,
            name,
            {
                "upload": stored.parent.name,
                "sha": sha,
                "report": report,
                "due": due,
                "invalid": [
                    (shown_text(ref, clear=False), shown_text(why, clear=False))
                    for ref, why in report.invalid
                ],
            },
        )

    @app.post("/robots/{robot}/uploads/{upload}/run")
    def run_upload(
        request: Request,
        session: Operator,
        robot: str,
        upload: str,
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        project = _acting(request, session, csrf_token, robot)
        gettext = catalogue_of(request).gettext
        path = _stored(project, upload)
        if path is None:
            text = gettext("That upload is gone: upload the file again.")
            return back_to(request, "/robots", text)
        sha = upload.rsplit("-", 1)[1]
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            text = gettext("That upload changed since it was checked: upload it again.")
            return back_to(request, "/robots", text)
        run_id = _start(request, project, robot, path)
        project.backend.record_audit(
            actor=session.user,
            action="run_started",
            note=f"{robot} run {run_id}: upload {path.name} (sha256 {sha})",
        )
        return _to_run(request, project, robot, run_id)


def _acting(request: Request, session: Session, csrf_token: str, robot: str) -> Project:
    """The project of an operator's POST about ``robot`` (its CSRF token checked,
    the robot one of the project's: else 404)."""
    check_csrf(session, csrf_token)
    project = console_of(request).project
    robots, _problems = project.robots()
    if robot not in robots:
        text = catalogue_of(request).gettext("No robot named %(robot)s.")
        raise StarletteHTTPException(404, text % {"robot": robot[:100]})
    return project


def _uploads(project: Project) -> Path:
    folder = project.settings.state_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        folder.chmod(0o700)
    return folder


def _store(project: Project, data: bytes, name: str) -> Path:
    """Keep an upload owner-only: ``uploads/<time>-<sha256>/<name>``, the name as
    the page shows it (CPR numbers masked) so that messages name the file as the
    operator knows it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = _uploads(project) / f"{stamp}-{hashlib.sha256(data).hexdigest()}"
    folder.mkdir(mode=0o700)
    safe = re.sub(r"[^\w .,()+-]", "_", name).strip(" .") or "upload"
    path = folder / safe[:120]
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return path


def _stored(project: Project, upload: str) -> Path | None:
    """The file of upload ``upload`` (its folder's name), if it is there."""
    if _UPLOAD.fullmatch(upload) is None:
        return None
    files = sorted((_uploads(project) / upload).glob("*"))
    return files[0] if len(files) == 1 and files[0].is_file() else None


def _refused(
    request: Request, project: Project, user: str, robot: str, name: str, reason: str
) -> Response:
    project.backend.record_audit(
        actor=user, action="upload_refused", note=f"{robot}: {name}: {reason}"
    )
    return _upload_page(request, robot, name, {"refused": reason}, status_code=422)


def _upload_page(
    request: Request,
    robot: str,
    name: str,
    page: dict[str, object],
    *,
    status_code: int = 200,
) -> Response:
    """The page of an upload: its dry-run, or why it was refused."""
    title = catalogue_of(request).gettext("Check the input of %(robot)s")
    return render(
        request,
        "upload.html",
        {"title": title % {"robot": robot}, "robot": robot, "name": name, **page},
        status_code=status_code,
    )


def _start(request: Request, project: Project, robot: str, path: Path | None) -> str:
    """Start ``rpa run ROBOT`` in a process of its own; return its run id."""
    run_id = new_run_id(console_of(request).clock())
    args = ["run", robot, "--run-id", run_id]
    if path is not None:
        args += ["--input", str(path)]
    env = dict(os.environ)
    env["RPA_DATABASE_URL"] = project.settings.database
    env["RPA_LOG_DIR"] = str(project.settings.logs)
    output = project.settings.logs / robot / run_id / "output.log"
    child = spawn(
        rpa_command(project.settings.project_dir, *args), output=output, env=env
    )
    threading.Thread(target=child.wait, name=f"run-{run_id}", daemon=True).start()
    deadline = time.monotonic() + _START_WAIT_S
    while time.monotonic() < deadline:
        try:
            project.backend.get_run(run_id)
            return run_id
        except KeyError:
            if child.poll() is not None:
                break
            time.sleep(0.1)
    if child.poll() is not None:
        text = catalogue_of(request).gettext(
            "The run of %(robot)s did not start: %(why)s"
        )
        why = shown_text(
            tail(output, 3).strip() or f"exit code {child.returncode}", clear=False
        )
        raise StarletteHTTPException(500, text % {"robot": robot, "why": why})
    return run_id


def _to_run(request: Request, project: Project, robot: str, run_id: str) -> Response:
    text = catalogue_of(request).gettext("%(robot)s started: run %(run)s.")
    return back_to(request, f"/runs/{run_id}", text % {"robot": robot, "run": run_id})

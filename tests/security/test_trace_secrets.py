"""The engine hides every registered secret in the traces it keeps."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from pydantic import BaseModel

from robotlib import ApplicationError, Context, RetryPolicy, Robot
from robotlib.engine import Engine
from robotlib.logs import build_redactor, configure_logging
from robotlib.queue import InMemoryBackend
from robotlib.settings import Settings

SECRET = 'pa"ss&wörd-42'


class Row(BaseModel):
    """One row."""

    n: int


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


TRACES = {
    "zip": _zip(
        {
            "trace.trace": json.dumps({"params": {"value": SECRET}}).encode(),
            "resources/body.dat": f"user=robot&pw={SECRET}".encode(),
            "image.jpeg": b"\xff\xd8\xff\xe0 not text \x00\x01",
        }
    ),
    "text": f"typed {SECRET} into the login form".encode(),
}


class RecordingSystem:
    """A target system whose trace holds the password it was given."""

    name = "recorder"

    def __init__(self, trace: bytes) -> None:
        self.trace = trace

    def screenshot(self, path: Path) -> None:
        return None

    def save_trace(self, path: Path) -> Path:
        path.write_bytes(self.trace)
        return path

    def close(self) -> None:
        pass


@pytest.mark.parametrize("kind", sorted(TRACES))
def test_registered_secrets_are_hidden_in_saved_traces(
    tmp_path: Path, kind: str
) -> None:
    """A trace (zip or not) keeps its content but not the secret, in any spelling."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="mask")
    redactor = build_redactor(settings)
    redactor.add_secret(SECRET)
    configure_logging(settings, redactor=redactor, console_level="ERROR")

    def fail(ctx: Context, row: Row) -> None:
        raise ApplicationError("the system answered HTTP 500")

    robot = Robot(
        name="recorder",
        item=Row,
        source=lambda input_path: [{"n": 1}],
        reference="n",
        setup=lambda ctx: ctx.open_application(RecordingSystem(TRACES[kind])),
        process=fail,
        retry=RetryPolicy(attempts=1),
        stop_after_system_errors=0,
    )
    result = Engine(
        robot,
        settings=settings,
        backend=InMemoryBackend(),
        redactor=redactor,
        sleep=lambda seconds: None,
    ).run()
    [trace] = result.run_dir.glob("*-trace.zip")
    assert 0o600 == stat.S_IMODE(trace.stat().st_mode)
    if kind == "zip":
        with zipfile.ZipFile(trace) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        assert b"\xff\xd8\xff\xe0 not text \x00\x01" == members["image.jpeg"]
        assert b"user=robot&pw=***" == members["resources/body.dat"]
        texts = [data.decode("latin-1") for data in members.values()]
    else:
        assert b"typed *** into the login form" == trace.read_bytes()
        texts = [trace.read_bytes().decode("latin-1")]
    spellings = [SECRET, json.dumps(SECRET)[1:-1], "pa%22ss%26w%C3%B6rd-42"]
    assert [] == [s for s in spellings for text in texts if s in text]
    assert not list(result.run_dir.glob("*.part"))

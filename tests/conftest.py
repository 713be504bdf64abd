"""Shared fixtures: the sandbox (in-process or live), a real browser, a display,
PostgreSQL databases, a fleet of robot machines in network namespaces."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page

from robotlib.pytest_plugin import Sandbox
from sandbox import SandboxConfig, SandboxServer, create_app
from sandbox.database import SEED_USERS

ROBOT_USER = "robot"
SCREEN = (1024, 768)
_XVFB_STARTUP_S = 10.0


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back as they were after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


ROBOT_PASSWORD = SEED_USERS[ROBOT_USER][0]


@pytest.fixture
def make_sandbox_config(tmp_path: Path) -> Callable[..., SandboxConfig]:
    """Return a factory of sandbox configs with a temporary database."""

    def make(**overrides: Any) -> SandboxConfig:
        values: dict[str, Any] = {"db_path": tmp_path / "sandbox.db", "spinner_ms": 0}
        values.update(overrides)
        return SandboxConfig(**values)

    return make


@pytest.fixture
def make_client(
    make_sandbox_config: Callable[..., SandboxConfig],
) -> Iterator[Callable[..., TestClient]]:
    """Return a factory of HTTP clients of a fresh in-process sandbox."""
    clients: list[TestClient] = []

    def make(*, login: bool = True, **overrides: Any) -> TestClient:
        client = TestClient(create_app(make_sandbox_config(**overrides)))
        clients.append(client)
        if login:
            log_in(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """Return an HTTP client of a fresh sandbox, logged in as the robot user."""
    return make_client()


def log_in(
    client: TestClient | httpx.Client,
    username: str = ROBOT_USER,
    password: str = ROBOT_PASSWORD,
) -> httpx.Response:
    """Log in through the login form and return the response."""
    return client.post(
        "/login",
        data={"username": username, "password": password},
        follow_redirects=False,
    )


@pytest.fixture(name="log_in")
def log_in_fixture() -> Callable[..., httpx.Response]:
    """Return the login helper (test modules cannot import conftest: importlib mode)."""
    return log_in


# The sandbox and the browser are robotlib's pytest plugin's (robotlib.pytest_plugin):
# one sandbox and one Chromium for the session, shared with the robots' tests.


@pytest.fixture(scope="session")
def rpa_sandbox_config(tmp_path_factory: pytest.TempPathFactory) -> SandboxConfig:
    """The plugin's sandbox, with a short spinner: the tests wait for it often."""
    db_path = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    return SandboxConfig(db_path=db_path, spinner_ms=200)


@pytest.fixture(scope="session")
def sandbox_server(rpa_sandbox_server: SandboxServer) -> SandboxServer:
    """The one sandbox of the session, on a free loopback port."""
    return rpa_sandbox_server


@pytest.fixture
def live_sandbox(rpa_sandbox: Sandbox) -> SandboxServer:
    """Return the live sandbox, reset to its seed data before and after the test."""
    return rpa_sandbox.server


@pytest.fixture(scope="session")
def browser(rpa_browser: Browser) -> Browser:
    """The one real headless Chromium of the session, launched as robots do."""
    return rpa_browser


@pytest.fixture
def page(browser: Browser, live_sandbox: SandboxServer) -> Iterator[Page]:
    """Return a fresh page in its own context, with the live sandbox as base URL."""
    context = browser.new_context(base_url=live_sandbox.url, accept_downloads=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


# The desktop: one Xvfb for the session ---------------------------------------------
#
# The desktop tests and the desktop robot's tests share one X server: pyautogui
# connects to the display once per process, when it is first imported, so a second
# Xvfb in the same session would get keystrokes meant for the first.


@dataclass(frozen=True)
class VirtualDisplay:
    """A running Xvfb: its display name and the authority file with its cookie."""

    name: str
    authority: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualDisplay]:
    """Start one Xvfb on a free display number, guarded by a random cookie."""
    missing = [tool for tool in ("Xvfb", "xauth", "xdotool") if not shutil.which(tool)]
    if missing:
        needed = ", ".join(missing)
        pytest.fail(f"the desktop tests need {needed}: run scripts/ensure-desktop.sh")
    authority = tmp_path_factory.mktemp("xvfb") / "Xauthority"
    cookie = secrets.token_hex(16)
    # Xvfb trusts every cookie in its -auth file, whatever display the entry names;
    # clients look the cookie up by display number, added once the number is known.
    _xauth(authority, "add", ":0", ".", cookie)
    read_end, write_end = os.pipe()
    width, height = SCREEN
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-auth",
            str(authority),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        name = f":{_read_display_number(read_end, process)}"
        _xauth(authority, "add", name, ".", cookie)
        display = VirtualDisplay(name=name, authority=authority, process=process)
        _wait_until_answering(display)
        yield display
    finally:
        os.close(read_end)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def display(xvfb: VirtualDisplay, monkeypatch: pytest.MonkeyPatch) -> VirtualDisplay:
    """Point DISPLAY and XAUTHORITY at the test Xvfb for one test."""
    monkeypatch.setenv("DISPLAY", xvfb.name)
    monkeypatch.setenv("XAUTHORITY", str(xvfb.authority))
    return xvfb


def _xauth(authority: Path, *args: str) -> None:
    subprocess.run(["xauth", "-q", "-f", str(authority), *args], check=True)


def _read_display_number(read_end: int, process: subprocess.Popen[bytes]) -> str:
    """Xvfb writes its display number to -displayfd once it accepts clients."""
    ready, _, _ = select.select([read_end], [], [], _XVFB_STARTUP_S)
    number = os.read(read_end, 32).decode().strip() if ready else ""
    if not number:
        process.kill()
        _, errors = process.communicate()
        pytest.fail(f"Xvfb did not start: {errors.decode(errors='replace')}")
    return number


def _wait_until_answering(display: VirtualDisplay) -> None:
    env = {**os.environ, "DISPLAY": display.name, "XAUTHORITY": str(display.authority)}
    deadline = time.monotonic() + _XVFB_STARTUP_S
    while True:
        answer = subprocess.run(
            ["xdotool", "getdisplaygeometry"], env=env, capture_output=True, text=True
        )
        if answer.returncode == 0:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"Xvfb {display.name} does not answer: {answer.stderr}")
        time.sleep(0.05)


# PostgreSQL ---------------------------------------------------------------------------

#: The server the PostgreSQL tests create their databases on (trust auth in CI).
POSTGRESQL_SERVER = os.environ.get(
    "RPA_TEST_POSTGRESQL_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    """The PostgreSQL server's URL, once it answers.

    Where none answers the PostgreSQL tests are skipped, saying why; with
    ``RPA_REQUIRE_POSTGRESQL=1`` (CI sets it) they fail instead, so that CI never
    passes without them.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{POSTGRESQL_SERVER}/postgres")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = (
            f"no PostgreSQL server at {POSTGRESQL_SERVER} "
            f"({str(exc).splitlines()[0]}); set RPA_TEST_POSTGRESQL_SERVER"
        )
        if os.environ.get("RPA_REQUIRE_POSTGRESQL") == "1":
            pytest.fail(f"{reason}; RPA_REQUIRE_POSTGRESQL=1 forbids skipping")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return POSTGRESQL_SERVER


@pytest.fixture
def make_postgresql_database(postgresql_server: str) -> Iterator[Callable[[], str]]:
    """A factory of new, empty PostgreSQL databases; each is dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{postgresql_server}/postgres", isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"robotlib_test_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return f"{postgresql_server}/{name}"

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# A quick robot for tests of processes: the scheduler, workers -----------------------

SLOW_ROBOT = '''\
"""A robot for scheduler tests: sleeps, then records the item in done.jsonl."""

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel

from robotlib import ApplicationError, BusinessRuleError, Context, RetryPolicy, Robot


class Row(BaseModel):
    key: str
    sleep_s: float = 0.0
    bad: bool = False
    broken: bool = False


def read(input_path: Path | None) -> list[dict[str, object]]:
    if input_path is None:
        sleep = float(os.environ.get("SLOW_SLEEP_S", "0"))
        return [{"key": f"k{time.time_ns()}", "sleep_s": sleep}]
    rows: list[dict[str, object]] = json.loads(input_path.read_text("utf-8"))
    return rows


def process(ctx: Context, item: Row) -> None:
    started = time.time()
    time.sleep(item.sleep_s)
    if item.bad:
        raise BusinessRuleError(f"item {item.key} is bad: fix it in the export")
    if item.broken:
        raise ApplicationError("the target system answered HTTP 503")
    record = {"key": item.key, "pid": os.getpid(), "start": started, "end": time.time()}
    with (ctx.settings.project_dir / "done.jsonl").open("a") as file:
        file.write(json.dumps(record) + "\\n")


def check_pages(ctx: Context) -> None:
    if (ctx.settings.project_dir / "preflight-fails").exists():
        raise RuntimeError("the button 'Register lab result' is gone")


robot = Robot(
    name="slow",
    item=Row,
    source=read,
    reference="key",
    process=process,
    preflight=check_pages,
    retry=RetryPolicy(attempts=1, backoff_s=(0,)),
    stop_after_system_errors=1,
)
'''


@pytest.fixture
def write_slow_robot() -> Callable[[Path], Path]:
    """Write ``robots/slow.py`` into a project folder; return the folder.

    The robot ``slow`` sleeps ``sleep_s`` per item (``SLOW_SLEEP_S`` for the item it
    makes without ``--input``), then appends the item's key, its process id and the
    times to ``done.jsonl`` in the project: tests read there which process ran what,
    and when. ``bad`` items are business exceptions, ``broken`` ones system
    exceptions; its preflight fails while the file ``preflight-fails`` exists.
    """

    def write(folder: Path) -> Path:
        (folder / "robots").mkdir(parents=True, exist_ok=True)
        (folder / "robots" / "slow.py").write_text(SLOW_ROBOT, "utf-8")
        return folder

    return write


# A fleet: robot machines in network namespaces ---------------------------------------


@dataclass
class FleetHost:
    """One robot machine: a network namespace reaching ours over a veth pair.

    Inside, ``address`` is its own; ``gateway`` is our side, where relays listen
    for it (the host's services listen on 127.0.0.1 only).
    """

    name: str
    namespace: str
    address: str
    gateway: str


class Fleet:
    """Robot machines for fleet tests: namespaces, relays to our services, agents.

    Each host is a network namespace of its own (its own loopback, its own address)
    with a UTS namespace for its host name, so an agent there is on another
    machine as far as it can tell. It reaches PostgreSQL and the sandbox only
    through a TCP relay on our end of its veth pair.
    """

    def __init__(self, folder: Path) -> None:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            pytest.fail("fleet tests make network namespaces: run them as root")
        self.folder = folder
        self.token = secrets.token_hex(2)
        self.hosts: list[FleetHost] = []
        self.relays: list[Any] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def host(self, name: str) -> FleetHost:
        """A new machine called ``name``."""
        number = len(self.hosts) + 1
        namespace = f"rpa{self.token}{number}"
        ours, theirs = f"rf{self.token}{number}h", f"rf{self.token}{number}n"
        subnet = f"10.{200 + number}.{int(self.token, 16) % 250}"
        host = FleetHost(name, namespace, f"{subnet}.2", f"{subnet}.1")
        for argv in (
            ["ip", "netns", "add", namespace],
            ["ip", "link", "add", ours, "type", "veth", "peer", "name", theirs],
            ["ip", "link", "set", theirs, "netns", namespace],
            ["ip", "addr", "add", f"{host.gateway}/30", "dev", ours],
            ["ip", "link", "set", ours, "up"],
            *(
                ["ip", "netns", "exec", namespace, *command]
                for command in (
                    ["ip", "addr", "add", f"{host.address}/30", "dev", theirs],
                    ["ip", "link", "set", theirs, "up"],
                    ["ip", "link", "set", "lo", "up"],
                )
            ),
        ):
            subprocess.run(argv, check=True, capture_output=True)
        self.hosts.append(host)
        return host

    def relay(self, host: FleetHost, port: int) -> int:
        """Relay ``host.gateway:PORT`` to our 127.0.0.1:``port``; return PORT."""
        relay = _Relay((host.gateway, 0), port)
        self.relays.append(relay)
        return relay.port

    def database_for(self, host: FleetHost, url: str) -> str:
        """``url`` (a PostgreSQL database of ours) as ``host`` reaches it."""
        from sqlalchemy import make_url

        parsed = make_url(url)
        port = self.relay(host, parsed.port or 5432)
        return parsed.set(host=host.gateway, port=port).render_as_string(False)

    def start(
        self, host: FleetHost, argv: list[str], *, env: dict[str, str], log: str
    ) -> subprocess.Popen[bytes]:
        """Run ``argv`` on ``host`` (its namespace, its host name), output to log."""
        wrapped = [
            *("ip", "netns", "exec", host.namespace, "unshare", "--uts"),
            *("sh", "-c", 'hostname "$0" && exec "$@"', host.name, *argv),
        ]
        with (self.folder / log).open("ab") as output:
            process = subprocess.Popen(
                wrapped,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def kill_host(self, host: FleetHost) -> list[int]:
        """SIGKILL every process on ``host`` (the machine stops); return the pids."""
        found = subprocess.run(
            ["ip", "netns", "pids", host.namespace], capture_output=True, text=True
        )
        pids = [int(pid) for pid in found.stdout.split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def close(self) -> None:
        for host in self.hosts:
            self.kill_host(host)
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for relay in self.relays:
            relay.close()
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


class _Relay:
    """A TCP relay: each connection to ``listen`` is piped to 127.0.0.1:``target``."""

    def __init__(self, listen: tuple[str, int], target: int) -> None:
        import socket
        import threading

        self.target = target
        self.server = socket.create_server(listen)
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def _pipe(source: Any, sink: Any) -> None:
    import socket

    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)  # the other pipe's recv ends
        source.close()  # each socket is the source of one pipe


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Robot machines in network namespaces; all killed and removed afterwards."""
    made = Fleet(tmp_path)
    try:
        yield made
    finally:
        made.close()

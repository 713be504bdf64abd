"""scripts/ensure-desktop.sh: keeps Xvfb, installs it as root, or says what to do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-desktop.sh"
TOOLS = ("Xvfb", "xauth", "xdotool")
PACKAGES = "xvfb xauth xdotool scrot"

# A fake apt-get: the first install fails (stale package lists), update fixes that,
# and the second install puts the tools on the PATH.
FAKE_APT_GET = """#!/bin/sh
here=${0%/*}
echo "$*" >> "$here/apt.log"
case "$1" in
update) : > "$here/updated" ;;
install)
    [ -e "$here/updated" ] || exit 100
    for tool in Xvfb xauth xdotool; do
        printf '#!/bin/sh\\n' > "$here/$tool"
        /bin/chmod +x "$here/$tool"
    done ;;
esac
"""


def fake_bin(tmp_path: Path, *, uid: int, tools: tuple[str, ...] = ()) -> Path:
    """A PATH folder with a fake `id` and the given tools, and nothing else."""
    folder = tmp_path / "bin"
    folder.mkdir()
    scripts = {"id": f"#!/bin/sh\necho {uid}\n"}
    scripts.update({tool: "#!/bin/sh\n" for tool in tools})
    for name, body in scripts.items():
        (folder / name).write_text(body)
        (folder / name).chmod(0o755)
    return folder


def run_script(folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the script with only ``folder`` on the PATH."""
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run(
        [bash, str(SCRIPT)],
        env={"PATH": str(folder)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_present_tools_are_kept(tmp_path: Path) -> None:
    """With Xvfb, xauth and xdotool on the PATH the script does nothing."""
    result = run_script(fake_bin(tmp_path, uid=1000, tools=TOOLS))

    assert (0, "", "") == (result.returncode, result.stdout, result.stderr)


def test_missing_tools_without_root_say_what_to_install(tmp_path: Path) -> None:
    """Not root: the script names the missing tools and the apt-get line, exit 1."""
    result = run_script(fake_bin(tmp_path, uid=1000, tools=("xauth",)))

    assert 1 == result.returncode
    assert "missing: Xvfb xdotool" in result.stderr
    assert f"sudo apt-get install {PACKAGES}" in result.stderr


def test_root_installs_and_updates_only_after_a_failed_install(
    tmp_path: Path,
) -> None:
    """As root it runs apt-get install, and apt-get update only when that failed."""
    folder = fake_bin(tmp_path, uid=0)
    (folder / "apt-get").write_text(FAKE_APT_GET)
    (folder / "apt-get").chmod(0o755)

    result = run_script(folder)

    install = f"install -y --no-install-recommends {PACKAGES}"
    assert 0 == result.returncode, result.stderr
    assert [install, "update", install] == (
        (folder / "apt.log").read_text().splitlines()
    )

"""Check the installed dependencies for known vulnerabilities with pip-audit.

pip-audit looks each installed release up on pypi.org (``/pypi/NAME/VERSION/json``).
Where that lookup is not served (a mirror, a locked-down network), pip-audit would
report every package "not found" and, without ``--strict``, pass having checked
nothing. This script probes the lookup first:

- served: runs ``pip-audit --strict`` and exits with its code (a known
  vulnerability, or a package it cannot look up, fails);
- not served: says so loudly and exits 3, or 0 with ``--allow-unreachable`` (what
  CI on a machine without pypi.org's JSON API passes), never claiming an audit.

    python scripts/audit.py [--allow-unreachable]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

PROBE = "https://pypi.org/pypi/pip/{version}/json"


def lookup_served() -> tuple[bool, str]:
    """Whether pypi.org answers pip-audit's per-release lookup, and what it said."""
    url = PROBE.format(version=version("pip"))
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            return answer.status == 200, f"HTTP {answer.status} from {url}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} from {url}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return False, f"{url}: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--allow-unreachable",
        action="store_true",
        help="exit 0 (with a warning) when the vulnerability lookup is not served",
    )
    args = parser.parse_args()
    served, said = lookup_served()
    if not served:
        print(
            "pip-audit: NOT AUDITED. pypi.org does not serve the per-release lookup "
            f"pip-audit needs here ({said}), and no other vulnerability service is "
            "reachable. Run `make audit` where pypi.org is reachable.",
            file=sys.stderr,
        )
        return 0 if args.allow_unreachable else 3
    audit = Path(sys.executable).with_name("pip-audit")
    command = [str(audit), "--progress-spinner", "off", "--vulnerability-service"]
    command += ["pypi", "--strict", "--skip-editable"]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

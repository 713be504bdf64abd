"""The example robots' tests run them with robotlib's test kit against the sandbox.

The fixtures are the plugin's (``robotlib.pytest_plugin``): ``run_robot``,
``preflight_robot``, ``rpa_sandbox``. Here the robots get the sandbox's robot user.
"""

from __future__ import annotations

import pytest

from robotlib.pytest_plugin import Sandbox


@pytest.fixture
def rpa_credentials(rpa_sandbox: Sandbox) -> dict[str, dict[str, str]]:
    """Every example robot logs in to the live sandbox as its robot user."""
    return {"sandbox": rpa_sandbox.credentials}

"""Tests of robotlib.secrecy: one answer to "is this secret?" wherever we hide."""

from __future__ import annotations

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from robotlib import credentials, traces
from robotlib.logs import Redactor
from robotlib.secrecy import MASK, is_secret_name, mask_form_fields, spellings
from robotlib.steps import _registry

SECRET_NAMES = [
    "password",
    "db_passwd",
    "client_secret",
    "X-Auth-Token",
    "api_key",
    "credential",
    "Cookie",
    "Authorization",
]
PLAIN_NAMES = ["cpr", "username", "url", "reference", "department"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_every_hider_hides_a_secret_name(name: str) -> None:
    """Logs, step arguments, traces and credentials hide the same names."""
    assert is_secret_name(name)
    event = Redactor(cpr_mode="clear", key=b"")(None, "info", {name: "hunter22"})
    assert event[name] == MASK

    argument = name.replace("-", "_")
    signature = inspect.Signature(
        [inspect.Parameter(argument, inspect.Parameter.KEYWORD_ONLY)]
    )
    shown = _registry._arguments(signature, (), {argument: "hunter22"})
    assert shown == {f"arg_{argument}": MASK}
    assert traces._masked({"name": name, "value": "hunter22"})["value"] == MASK
    if name not in ("url", "username"):
        assert isinstance(credentials._wrap(name, "hunter22"), SecretStr)


def test_a_step_argument_mapping_hides_its_secret_fields() -> None:
    """fill_form(session, {"Password": ...}) logs the form without the password."""
    signature = inspect.Signature(
        [inspect.Parameter("fields", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    fields = {"User name": "robot", "Password": "hunter22"}

    shown = _registry._arguments(signature, (fields,), {})

    assert "hunter22" not in shown["arg_fields"]
    assert repr({"User name": "robot", "Password": MASK}) == shown["arg_fields"]


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_no_hider_hides_a_plain_name(name: str) -> None:
    """A CPR field or a user name is not secret (CPR masking is a matter apart)."""
    assert not is_secret_name(name)
    event = Redactor(cpr_mode="clear", key=b"")(None, "info", {name: "visible"})
    assert event[name] == "visible"
    assert traces._masked({"name": name, "value": "visible"})["value"] == "visible"
    assert credentials._wrap(name, "visible") == "visible"


def test_form_fields_are_masked_by_the_same_names() -> None:
    body = "username=robot&db_password=p%40ss&api_key=abc&next=%2Fhome"
    assert (
        mask_form_fields(body)
        == "username=robot&db_password=***&api_key=***&next=%2Fhome"
    )


@given(st.text(min_size=3))
def test_a_registered_value_is_hidden_in_every_spelling(value: str) -> None:
    """What spellings() lists, the redactor hides; the value never survives as typed."""
    redactor = Redactor(cpr_mode="clear", key=b"")
    redactor.add_secret(value)
    for written in spellings(value):
        assert value not in redactor.redact(f"<{written}>") or value in MASK


def test_short_values_are_not_registered() -> None:
    assert spellings("ab") == set()

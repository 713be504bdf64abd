"""CPR numbers: birth dates with the right century, well-formedness and masking."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from robotlib.cpr import (
    Cpr,
    birth_date,
    format_cpr,
    is_well_formed,
    mask_cpr,
    mask_cpr_like,
)
from robotlib.logs import Redactor


@pytest.mark.parametrize(
    ("cpr", "expected"),
    [
        ("010190-1234", date(1990, 1, 1)),  # serial 0-3: 1900s
        ("010136-4000", date(2036, 1, 1)),  # 4 with year <= 36: 2000s
        ("010137-4000", date(1937, 1, 1)),  # 4 with year >= 37: 1900s
        ("010157-5000", date(2057, 1, 1)),  # 5-8 with year <= 57: 2000s
        ("010158-8000", date(1858, 1, 1)),  # 5-8 with year >= 58: 1800s
        ("290200-9000", date(2000, 2, 29)),  # 9 with year <= 36: 2000s, leap day
        ("2402121234", date(1912, 2, 24)),  # without the dash
    ],
)
def test_birth_date_takes_the_century_from_the_serial(cpr: str, expected: date) -> None:
    """The seventh digit with the year gives the century of the birth date."""
    assert expected == birth_date(cpr)


@pytest.mark.parametrize(
    "cpr", ["310299-1234", "000190-1234", "011390-1234", "01019-1234", "0101901234x"]
)
def test_impossible_or_malformed_numbers_are_not_well_formed(cpr: str) -> None:
    """A date that does not exist, or the wrong length, is not a CPR number."""
    assert not is_well_formed(cpr)


def test_modulus_11_is_not_required() -> None:
    """Numbers failing the old modulus-11 check are still well-formed (since 2007)."""
    assert is_well_formed("010190-1235")
    assert is_well_formed("010190-1234")


def test_format_and_mask() -> None:
    """Numbers are formatted with a dash, and masking hides the serial."""
    assert "240512-4123" == format_cpr("2405124123")
    assert "240512-****" == mask_cpr("240512-4123")
    with pytest.raises(ValueError, match="does not exist"):
        format_cpr("310299-1234")


class _Patient(BaseModel):
    cpr: Cpr


def _refusal(value: object) -> str:
    """The message of the one error that refuses ``value`` as a Cpr."""
    with pytest.raises(ValidationError) as caught:
        _Patient(cpr=value)
    (error,) = caught.value.errors()
    return error["msg"]


@pytest.mark.parametrize(
    "typed",
    [
        "2405124123",
        "240512-4123",
        "240512 4123",  # space
        "240512\u00a04123",  # no-break space
        "240512\u202f4123",  # narrow no-break space
        "240512\u20134123",  # en dash
        "240512\u20144123",  # em dash
        "240512 - 4123",  # a dash with spaces around
        "240512 \u2013 4123",
        "  240512-4123 ",
        "\u200b240512-4123",  # zero-width space
        "2405\u200d12-4123",  # zero-width joiner
        "\ufeff240512-4123",  # byte-order mark
        "240512\u00ad-4123",  # soft hyphen
        2405124123,  # a number cell
        2405124123.0,  # a number cell as calamine reads it
    ],
)
def test_cpr_accepts_the_unambiguous_spellings(typed: object) -> None:
    """Pasted separators and invisible characters give the DDMMYY-SSSS form."""
    assert "240512-4123" == _Patient(cpr=typed).cpr


@pytest.mark.parametrize("typed", ["240512-4124", "0101011000", "010101-1001"])
def test_cpr_never_checks_modulus_11(typed: str) -> None:
    """Well-formed numbers that fail the modulus-11 check are accepted."""
    assert f"{typed.replace('-', '')[:6]}-{typed[-4:]}" == _Patient(cpr=typed).cpr


LOST_ZERO = (
    "a leading zero was probably lost when the CPR was stored as a number: "
    "090968-****? Format the column as text and type all ten digits"
)


@pytest.mark.parametrize("stored", [909689473, 909689473.0, "909689473"])
def test_cpr_suggests_the_lost_leading_zero_masked(stored: object) -> None:
    """A 9-digit number says a zero was lost and suggests the masked CPR."""
    assert LOST_ZERO == _refusal(stored)


def test_cpr_lost_zero_without_a_real_date_suggests_nothing() -> None:
    """When 0 + the nine digits is no real date, no number is suggested."""
    assert (
        "a leading zero was probably lost when the CPR was stored as a number: "
        "format the column as text and type all ten digits"
    ) == _refusal(993689473)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "2202O94002",
            "a letter is among the digits (the 5th character): a CPR number has "
            "digits only, type it as DDMMYY-SSSS (ten digits)",
        ),
        (
            "220209-40021",
            "a CPR number has ten digits, not 11: type it as DDMMYY-SSSS (ten digits)",
        ),
        (
            22020940021,
            "a CPR number has ten digits, not 11: type it as DDMMYY-SSSS (ten digits)",
        ),
        (
            "310299-1234",
            "the CPR number's birth date does not exist (31.02.99 as DD.MM.YY): "
            "check its first six digits",
        ),
        (
            "240512/4123",
            "a CPR number has one dash (or space) after the sixth digit and nothing "
            "else: type it as DDMMYY-SSSS (ten digits)",
        ),
        (
            "240512--4123",
            "a CPR number has one dash (or space) after the sixth digit and nothing "
            "else: type it as DDMMYY-SSSS (ten digits)",
        ),
        (
            2405124123.5,
            "a CPR number is a whole number: type it as DDMMYY-SSSS (ten digits)",
        ),
        (True, "a CPR number is text or a number: type it as DDMMYY-SSSS (ten digits)"),
    ],
)
def test_cpr_refusals_say_what_to_do_without_the_number(
    typed: object, message: str
) -> None:
    """Each refusal names the problem and never repeats the digits in clear."""
    assert message == _refusal(typed)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("220209-40021", "2202**-**** (11 digits)"),
        ("2202O94002", "2202**-**** (9 digits and a letter)"),
        ("240512-4123", "240512-****"),
        ("2405124123", "240512-****"),
        ("310299-1234", "3102**-**** (10 digits)"),
        ("240512 \u2013 4123", "240512-****"),
        (909689473, "9096**-**** (9 digits)"),
        (909689473.0, "9096**-**** (9 digits)"),
        ("22020940", "2202**-**** (8 digits)"),
        ("2202-09-40-02", "220209-****"),
    ],
)
def test_mask_cpr_like_masks_what_looks_like_a_cpr(value: object, shown: str) -> None:
    """CPR-like values, well-formed or not, are shown masked."""
    assert shown == mask_cpr_like(value)


@pytest.mark.parametrize(
    "value",
    [
        "7.5",
        7.5,
        "NPU02319",
        1234567,  # a registration id
        "high",
        "2026-12-04",  # an ISO date
        "31-02-2026",  # a Danish date
        "2026-12-04 20:15",
        "1234567890123",  # 13 digits
        "see 2202094002",  # text first
        "22AB0940021",  # two letters
        True,
        None,
    ],
)
def test_mask_cpr_like_leaves_other_values(value: object) -> None:
    """Lab values, codes, dates, comments and short numbers are not CPR-like."""
    assert mask_cpr_like(value) is None


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("value 220209-40021 refused", "value 2202**-**** refused"),
        ("value '2202O94002'", "value '2202**-****'"),
        ("2202O940021", "2202**-****"),
    ],
)
def test_redactor_masks_mistyped_cpr_numbers(text: str, masked: str) -> None:
    """Eleven digits with a dash, or digits with a stray letter, are masked."""
    assert masked == Redactor(cpr_mode="mask", key=b"").redact(text)


def test_redactor_hashes_mistyped_cpr_numbers() -> None:
    """In hash mode a mistyped number becomes a token, the same every time."""
    redactor = Redactor(cpr_mode="hash", key=b"k")
    first = redactor.redact("220209-40021")
    assert first.startswith("cpr:")
    assert first == redactor.redact("220209-40021")


@pytest.mark.parametrize(
    "text",
    [
        "run 20261204T201500Z-ab12",
        "registration 1234567 in 12.5 s",
        "order 9912319999",
        "NPU02319 A1234567890 1234567890X",
        "rows 123456-1234567",
    ],
)
def test_redactor_keeps_ordinary_numbers(text: str) -> None:
    """Run ids, registration ids, counts and codes stay readable."""
    assert text == Redactor(cpr_mode="mask", key=b"").redact(text)

"""CPR numbers: birth dates with the right century, well-formedness and masking."""

from __future__ import annotations

from datetime import date

import pytest

from robotlib.cpr import birth_date, format_cpr, is_well_formed, mask_cpr


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

"""Which spreadsheet column holds which model field, and errors named by column.

A model is read once into :class:`Fields` (every header each field accepts), then
the header row into a list of :class:`Column` (position, header, converter), so the
row loop does no lookups by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel
from pydantic.fields import FieldInfo

from robotlib.errors import ConfigurationError, InputError
from robotlib.locales import check_locale, check_time_zone
from robotlib.steps._excel_options import ReadOptions
from robotlib.steps._excel_values import (
    Converter,
    cell_text,
    converter_for,
    normalise,
)
from robotlib.validation import clipped, input_key

__all__ = [
    "Column",
    "Fields",
    "is_blank",
]


@dataclass(frozen=True, slots=True)
class Column:
    """A column the model reads: where it is and how its cells are converted."""

    index: int
    header: str
    label: str
    field: str
    key: str
    convert: Converter


@dataclass(frozen=True)
class Fields:
    """The fields of a model and the headers each one accepts.

    Attributes:
        model: the item model.
        by_header: normalised header → field name.
        headers: field name → the accepted headers, as written, for messages.
        keys: field name → the key the model validates it from (its alias, if any).
        converters: field name → the converter for its type.
        required: the fields without a default, in model order.
    """

    model: type[BaseModel]
    by_header: dict[str, str]
    headers: dict[str, list[str]]
    keys: dict[str, str]
    converters: dict[str, Converter]
    required: list[str]

    @classmethod
    def of(
        cls,
        model: type[BaseModel],
        aliases: Mapping[str, Sequence[str]] | None,
        options: ReadOptions | None = None,
    ) -> Fields:
        """Read a model's fields, aliases and extra accepted headers; each field's
        converter reads by its column's locale and the read's time zone."""
        options = options or ReadOptions()
        _check_options(model, options)
        aliases = dict(aliases or {})
        unknown = sorted(set(aliases) - set(model.model_fields))
        if unknown:
            raise ConfigurationError(
                f"aliases name {', '.join(map(repr, unknown))}, which "
                f"{model.__name__} has no field for (fields: "
                f"{', '.join(model.model_fields)})"
            )
        by_header: dict[str, str] = {}
        headers: dict[str, list[str]] = {}
        for name, info in model.model_fields.items():
            if isinstance(aliases.get(name), str):
                raise ConfigurationError(
                    f"aliases[{name!r}] must be a list of headers, not one string"
                )
            accepted = [name, *_aliases_of(info), *aliases.get(name, ())]
            headers[name] = []
            for header in accepted:
                key = normalise(header)
                other = by_header.setdefault(key, name)
                if other != name:
                    raise ConfigurationError(
                        f"the header {header!r} would match two fields of "
                        f"{model.__name__}: {other!r} and {name!r}"
                    )
                if header not in headers[name]:
                    headers[name].append(header)
        return cls(
            model=model,
            by_header=by_header,
            headers=headers,
            keys={n: input_key(n, i) for n, i in model.model_fields.items()},
            converters={
                n: converter_for(
                    i.annotation,
                    locale=options.column_locales.get(n, options.locale),
                    time_zone=options.time_zone,
                )
                for n, i in model.model_fields.items()
            },
            required=[n for n, i in model.model_fields.items() if i.is_required()],
        )

    def matches(self, cells: Sequence[Any]) -> tuple[bool, int]:
        """Score a row as header: (has every required field, fields matched)."""
        found = {
            self.by_header.get(normalise(cell))
            for cell in cells
            if cell is not None and not is_blank((cell,))
        }
        found.discard(None)
        return all(name in found for name in self.required), len(found)

    def columns(
        self,
        cells: Sequence[Any],
        *,
        label: Callable[[int], str],
        error: Callable[..., InputError],
    ) -> list[Column]:
        """Map a header row to columns; raise if a field is twice or a required one
        is missing.

        Args:
            cells: the header row's values.
            label: names a column by its 0-based index, e.g. ``B`` or ``2``.
            error: builds the :class:`InputError` (it knows file, sheet and row).
        """
        columns: dict[str, Column] = {}
        for index, cell in enumerate(cells):
            if cell is None or is_blank((cell,)):
                continue
            name = self.by_header.get(normalise(cell))
            if name is None:
                continue
            header = cell_text(cell)
            column = Column(
                index,
                header,
                label(index),
                name,
                self.keys[name],
                self.converters[name],
            )
            first = columns.setdefault(name, column)
            if first is not column:
                raise error(
                    f"columns {first.header!r} ({first.label}) and {header!r} "
                    f"({column.label}) both give the field {name!r}; remove or "
                    "rename one of them",
                    column=header,
                )
        missing = [name for name in self.required if name not in columns]
        if missing:
            raise error(self._missing(missing, cells), column=_one(missing))
        return sorted(columns.values(), key=lambda column: column.index)

    def _missing(self, missing: list[str], cells: Sequence[Any]) -> str:
        wanted = "; ".join(
            f"{name!r} (accepted headers: {', '.join(map(repr, self.headers[name]))})"
            for name in missing
        )
        found = [cell_text(c) for c in cells if c is not None and not is_blank((c,))]
        plural = "s" if len(missing) > 1 else ""
        return (
            f"missing column{plural} for {wanted}. The header row has: "
            f"{', '.join(map(clipped, found)) or 'nothing'}"
        )


def _check_options(model: type[BaseModel], options: ReadOptions) -> None:
    """Raise ConfigurationError for an unknown locale, zone or column name."""
    unknown = sorted(set(options.column_locales) - set(model.model_fields))
    if unknown:
        raise ConfigurationError(
            f"column_locales name {', '.join(map(repr, unknown))}, which "
            f"{model.__name__} has no field for (fields: "
            f"{', '.join(model.model_fields)})"
        )
    try:
        check_time_zone(options.time_zone)
        for locale in {options.locale, *options.column_locales.values()}:
            check_locale(locale)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _one(missing: list[str]) -> str | None:
    return missing[0] if len(missing) == 1 else None


def _aliases_of(info: FieldInfo) -> list[str]:
    found: list[str] = []
    choices: list[Any] = []
    if isinstance(info.validation_alias, AliasChoices):
        choices = list(info.validation_alias.choices)
    elif info.validation_alias is not None:
        choices = [info.validation_alias]
    for choice in choices:
        if isinstance(choice, str):
            found.append(choice)
        elif isinstance(choice, AliasPath) and len(choice.path) == 1:
            found.append(str(choice.path[0]))
    if info.alias:
        found.append(info.alias)
    return found


def is_blank(cells: Sequence[Any]) -> bool:
    """Whether every cell is empty or only whitespace."""
    return all(
        cell is None or (type(cell) is str and not cell.strip()) for cell in cells
    )

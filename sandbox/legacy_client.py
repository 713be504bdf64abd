"""A 1990s-style "legacy lab client": the desktop program desktop robots practise on.

A fixed-size Tk window with four fields (CPR, Test code, Value, Unit), a Save button
(also Enter and Ctrl+S) and a status line. A saved registration is appended as one
JSON line to the store file, so tests can check exactly what was registered; the
form is then cleared and the CPR field has the focus again. Invalid input leaves the
store untouched and shows a red message instead. Escape starts a new entry: it clears
the form, gives the CPR field the focus and shows "Ready" again.

The window title repeats the outcome, so a robot can read it without OCR (xdotool
reads titles): ``Legacy Lab Client`` when ready, ``Legacy Lab Client - Saved as
LAB-3`` after a save and ``Legacy Lab Client - Error: Unknown test code`` after a
refusal.

The look is fixed (window size and position, font, colours) so that image matching
finds the same pixels on every run.

Run it with::

    python -m sandbox.legacy_client --store registrations.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import tkinter as tk
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.catalog import LAB_CODES

__all__ = ["GEOMETRY", "TITLE", "LegacyClient", "Registration", "main", "validate"]

TITLE = "Legacy Lab Client"
GEOMETRY = "420x260+40+40"
FONT = ("DejaVu Sans", 11)
HEADING_FONT = ("DejaVu Sans", 11, "bold")
BACKGROUND = "#d4d0c8"
FIELD_BACKGROUND = "#ffffff"
TEXT = "#000000"
OK_COLOUR = "#006400"
ERROR_COLOUR = "#c00000"
FIELDS = (
    ("cpr", "CPR"),
    ("test_code", "Test code"),
    ("value", "Value"),
    ("unit", "Unit"),
)

_CPR = re.compile(r"(\d{2})(\d{2})\d{2}-\d{4}")


@dataclass(frozen=True)
class Registration:
    """One lab result as the form holds it, after validation."""

    cpr: str
    test_code: str
    value: float
    unit: str


def validate(values: dict[str, str]) -> Registration | str:
    """Return the registration the form holds, or the message saying what is wrong.

    Example:
        >>> validate({"cpr": "1", "test_code": "", "value": "", "unit": ""})
        'CPR must be DDMMYY-SSSS'
    """
    cpr = values["cpr"].strip()
    match = _CPR.fullmatch(cpr)
    if not match or not (1 <= int(match[1]) <= 31 and 1 <= int(match[2]) <= 12):
        return "CPR must be DDMMYY-SSSS"
    code = values["test_code"].strip().upper()
    if code not in LAB_CODES:
        return "Unknown test code"
    try:
        value = float(values["value"].strip().replace(",", "."))
    except ValueError:
        return "Value must be a number"
    return Registration(cpr, code, value, values["unit"].strip())


class LegacyClient:
    """The window: builds the form, validates it and appends saved records."""

    def __init__(self, root: tk.Tk, store: Path) -> None:
        self.root = root
        self.store = store
        root.title(TITLE)
        root.geometry(GEOMETRY)
        root.resizable(False, False)
        root.configure(background=BACKGROUND)
        self.entries: dict[str, tk.Entry] = {}
        heading = tk.Label(root, text="LABSYS 2.1 - Result entry", font=HEADING_FONT)
        heading.configure(background=BACKGROUND, foreground=TEXT)
        heading.grid(row=0, column=0, columnspan=2, padx=12, pady=(12, 8), sticky="w")
        for row, (key, label) in enumerate(FIELDS, start=1):
            tk.Label(
                root, text=f"{label}:", font=FONT, background=BACKGROUND, fg=TEXT
            ).grid(row=row, column=0, padx=(12, 8), pady=3, sticky="e")
            entry = tk.Entry(
                root,
                font=FONT,
                width=24,
                background=FIELD_BACKGROUND,
                foreground=TEXT,
                relief="sunken",
                insertofftime=0,
                highlightthickness=0,
            )
            entry.grid(row=row, column=1, pady=3, sticky="w")
            self.entries[key] = entry
        save = tk.Button(
            root,
            text="Save",
            font=FONT,
            width=8,
            command=self.save,
            takefocus=False,
            background=BACKGROUND,
            activebackground=BACKGROUND,
            highlightthickness=0,
        )
        save.grid(row=len(FIELDS) + 1, column=1, pady=8, sticky="w")
        self.status = tk.Label(root, text="Ready", font=FONT, anchor="w", width=40)
        self.status.configure(background=BACKGROUND, foreground=TEXT)
        self.status.grid(row=len(FIELDS) + 2, column=0, columnspan=2, padx=12)
        for sequence in ("<Return>", "<KP_Enter>", "<Control-s>"):
            root.bind_all(sequence, self._on_key)
        root.bind_all("<Escape>", self._on_escape)
        self.entries["cpr"].focus_set()
        root.bind("<Map>", self._take_focus)

    def _take_focus(self, event: tk.Event[tk.Misc]) -> None:
        """Take the keyboard focus once shown (there may be no window manager)."""
        if event.widget is self.root:
            self.root.focus_force()
            self.entries["cpr"].focus_set()

    def _on_key(self, _event: tk.Event[tk.Misc]) -> str:
        self.save()
        return "break"

    def _on_escape(self, _event: tk.Event[tk.Misc]) -> str:
        self.new_entry()
        return "break"

    def new_entry(self) -> None:
        """Clear the form, focus the CPR field and show "Ready" (the title alone)."""
        self._clear()
        self.status.configure(text="Ready", foreground=TEXT)
        self.root.title(TITLE)

    def save(self) -> None:
        """Validate the form; append the record and clear the form, or show why not."""
        result = validate({key: entry.get() for key, entry in self.entries.items()})
        if isinstance(result, str):
            self.status.configure(text=result, foreground=ERROR_COLOUR)
            self.root.title(f"{TITLE} - Error: {result}")
            return
        lab_id = f"LAB-{self._count() + 1}"
        record = {"id": lab_id, **result.__dict__}
        with self.store.open("a", encoding="utf-8") as store:
            store.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._clear()
        self.status.configure(text=f"Saved as {lab_id}", foreground=OK_COLOUR)
        self.root.title(f"{TITLE} - Saved as {lab_id}")

    def _clear(self) -> None:
        for entry in self.entries.values():
            entry.delete(0, "end")
        self.entries["cpr"].focus_set()

    def _count(self) -> int:
        if not self.store.exists():
            return 0
        with self.store.open(encoding="utf-8") as store:
            return sum(1 for line in store if line.strip())


def main(argv: Sequence[str] | None = None) -> None:
    """Run the legacy lab client until its window is closed."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.legacy_client")
    parser.add_argument(
        "--store", type=Path, required=True, help="JSON-lines file of registrations"
    )
    args = parser.parse_args(argv)
    root = tk.Tk(className="LegacyLabClient")
    LegacyClient(root, args.store)
    root.mainloop()


if __name__ == "__main__":
    main()

"""Does nothing with each item: what is left is the framework's own cost."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from robotlib import Context, Robot


class Numbered(BaseModel):
    """One item: a number."""

    n: int


def numbers(path: Path | None) -> Iterator[dict[str, int]]:
    """The source: ``--input FILE`` holds how many items to make (none without)."""
    count = int(path.read_text("utf-8")) if path is not None else 0
    for n in range(count):
        yield {"n": n}


def nothing(ctx: Context, item: Numbered) -> dict[str, Any]:
    """The process: nothing but an output to keep."""
    return {"registered": True}


robot = Robot(
    name="noop",
    item=Numbered,
    source=numbers,
    reference=["n"],
    process=nothing,
)

"""Writes the workbooks of tests/steps/test_excel_structure.py with LibreOffice.

A flat-ODS document with a hidden old sheet and rows hidden by hand and filtered
away (one filtered run repeated) is converted by ``soffice --headless`` to
``lab.xlsx`` and ``lab.ods``, which are committed: run this again after changing it
(``.venv/bin/python tests/data/libreoffice/make_books.py``; LibreOffice needed).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER: list[object] = ["patient", "value"]

FODS = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
 <office:automatic-styles>
  <style:style style:name="hide" style:family="table">
   <style:table-properties table:display="false"/>
  </style:style>
 </office:automatic-styles>
 <office:body><office:spreadsheet>
  <table:table table:name="Gammel" table:style-name="hide">
   {old}
  </table:table>
  <table:table table:name="Ark1">
   {rows}
  </table:table>
 </office:spreadsheet></office:body>
</office:document>
"""


def _row(
    values: Sequence[object], visibility: str | None = None, repeat: int = 1
) -> str:
    attributes = f' table:visibility="{visibility}"' if visibility else ""
    if repeat > 1:
        attributes += f' table:number-rows-repeated="{repeat}"'
    cells = "".join(
        f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}'
        "</text:p></table:table-cell>"
        if isinstance(v, float)
        else f'<table:table-cell office:value-type="string"><text:p>{v}</text:p>'
        "</table:table-cell>"
        for v in values
    )
    return f"<table:table-row{attributes}>{cells}</table:table-row>"


def main() -> None:
    """Write lab.fods and let LibreOffice convert it to lab.xlsx and lab.ods here."""
    folder = HERE
    rows = "".join(
        [
            _row(HEADER),
            _row(["A", 1.5]),
            _row(["B", 2.5], "collapse"),
            _row(["C", 3.5]),
            _row(["D", 4.5], "filter"),
            _row(["E", 5.5], "filter", repeat=2),
            _row(["F", 6.5]),
        ]
    )
    source = folder / "lab.fods"
    source.write_text(FODS.format(old=_row(HEADER) + _row(["OLD", 9.0]), rows=rows))
    for kind in ("xlsx", "ods"):
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation={(folder / 'profile').as_uri()}",
                "--headless",
                "--convert-to",
                kind,
                "--outdir",
                str(folder),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    shutil.rmtree(folder / "profile")


if __name__ == "__main__":
    main()

"""Write robots/inputs/documents/: scanned letters and the index that files them.

``index.xlsx`` has one row per document ("Fil", "CPR-nummer", "Dokumenttype",
"Dokumentdato", "Titel"); the files are small one-page PDFs beside it. The patients
are of the sandbox's default seed (2026), none of them in the other robots' inputs;
some rows are meant to end as business exceptions, as the comments say.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

FOLDER = "documents"
HEADERS = ["Fil", "CPR-nummer", "Dokumenttype", "Dokumentdato", "Titel"]
ROWS: list[list[object]] = [
    ["henvisning-0001.pdf", "161275-0014", "Henvisning", datetime(2026, 11, 18),
     "Henvisning fra egen læge"],
    ["epikrise-0002.pdf", "130440-0240", "Epikrise", "20-11-2026",
     "Epikrise fra kardiologisk afdeling"],
    ["samtykke-0003.pdf", "090968-9473", "Samtykkeerklæring", "19.11.2026",
     "Samtykke til operation"],
    # the file was never scanned: business exception naming the file
    ["scanning-0004.pdf", "071293-0753", "Korrespondance", "20-11-2026",
     "Brev fra patienten"],
    # no such patient in the EPJ: business exception
    ["henvisning-0005.pdf", "010101-0000", "Henvisning", "20-11-2026",
     "Henvisning til ortopædkirurgisk afdeling"],
    # a document type the archive does not have: business exception
    ["roentgen-0006.pdf", "031004-9599", "Røntgenbillede", "20-11-2026",
     "Røntgen af højre knæ"],
    # not a PDF, PNG or JPEG: the archive refuses it
    ["notat-0007.txt", "160350-0633", "Andet", "20-11-2026", "Telefonnotat"],
    # the same row twice: loaded once
    ["henvisning-0001.pdf", "161275-0014", "Henvisning", datetime(2026, 11, 18),
     "Henvisning fra egen læge"],
]  # fmt: skip
MISSING = {"scanning-0004.pdf"}


def pdf(text: str) -> bytes:
    """A small but well-formed one-page PDF showing ``text``."""
    shown = text.encode("latin-1", "replace").replace(b"(", b"[").replace(b")", b"]")
    stream = b"BT /F1 14 Tf 72 770 Td (" + shown + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def write(folder: Path) -> None:
    """Write ``folder``/documents/: index.xlsx and the files it names."""
    target = folder / FOLDER
    target.mkdir(parents=True, exist_ok=True)
    for name, *_, title in ROWS:
        assert isinstance(name, str) and isinstance(title, str)
        if name in MISSING:
            (target / name).unlink(missing_ok=True)
        elif name.endswith(".pdf"):
            (target / name).write_bytes(pdf(title))
        else:
            (target / name).write_text(
                f"{title}\r\nRing tilbage i morgen.\r\n", encoding="utf-8"
            )
    book = Workbook()
    sheet = book.active
    sheet.title = "Dokumenter"
    sheet.append(HEADERS)
    for row in ROWS:
        sheet.append(row)
    for cell in sheet["D"][1:]:
        if isinstance(cell.value, datetime):
            cell.number_format = "dd-mm-yyyy"
    book.properties.created = book.properties.modified = datetime(2026, 11, 20)
    book.save(target / "index.xlsx")

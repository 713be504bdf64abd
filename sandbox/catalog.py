"""The sandbox's catalogues: lab codes, questionnaires, document types, departments.

The lab codes follow the NPU naming of Danish laboratories; the ranges are what the
sandbox accepts as plausible, far wider than reference intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEPARTMENTS",
    "DOCUMENT_TYPES",
    "LAB_CODES",
    "QUESTIONNAIRES",
    "Department",
    "LabCode",
    "Questionnaire",
]


@dataclass(frozen=True)
class LabCode:
    """A lab test: its code, name, unit and the range of plausible values."""

    code: str
    name: str
    unit: str
    low: float
    high: float


@dataclass(frozen=True)
class Questionnaire:
    """A PRO questionnaire: each question is answered 0-4."""

    code: str
    title: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    """A hospital department with its beds."""

    code: str
    name: str
    beds: int


LAB_CODES: dict[str, LabCode] = {
    lab.code: lab
    for lab in (
        LabCode("NPU02319", "Hæmoglobin;B", "mmol/L", 1.0, 15.0),
        LabCode("NPU02593", "Leukocytter;B", "10^9/L", 0.1, 300.0),
        LabCode("NPU03568", "Trombocytter;B", "10^9/L", 1.0, 2500.0),
        LabCode("NPU03429", "Natrium;P", "mmol/L", 90.0, 200.0),
        LabCode("NPU03230", "Kalium;P", "mmol/L", 1.0, 10.0),
        LabCode("NPU18016", "Kreatinin;P", "µmol/L", 10.0, 3000.0),
        LabCode("NPU19748", "C-reaktivt protein;P", "mg/L", 0.0, 700.0),
        LabCode("NPU01961", "Alanintransaminase;P", "U/L", 1.0, 10000.0),
        LabCode("NPU19651", "Basisk fosfatase;P", "U/L", 5.0, 3000.0),
        LabCode("NPU01370", "Albumin;P", "g/L", 5.0, 70.0),
        LabCode("NPU01349", "Bilirubiner;P", "µmol/L", 1.0, 800.0),
        LabCode("NPU27300", "Hæmoglobin A1c;B", "mmol/mol", 10.0, 200.0),
        LabCode("NPU02192", "Glukose;P", "mmol/L", 0.5, 60.0),
        LabCode("NPU01807", "Carbamid;P", "mmol/L", 0.5, 100.0),
        LabCode("NPU04998", "Calcium-ion frit;P", "mmol/L", 0.3, 3.0),
        LabCode("NPU03577", "Thyrotropin;P", "mIU/L", 0.005, 200.0),
        LabCode("NPU02508", "Jern;P", "µmol/L", 1.0, 100.0),
        LabCode("NPU01566", "Kolesterol;P", "mmol/L", 1.0, 20.0),
        LabCode("NPU04094", "Triglycerid;P", "mmol/L", 0.1, 50.0),
        LabCode("NPU21531", "Koagulationsfaktor II+VII+X;P", "INR", 0.5, 10.0),
    )
}

QUESTIONNAIRES: dict[str, Questionnaire] = {
    q.code: q
    for q in (
        Questionnaire(
            "PRO-SMERTE",
            "Smerter",
            (
                "Smerter i hvile",
                "Smerter ved aktivitet",
                "Smerter om natten",
                "Brug af smertestillende",
                "Smerternes indflydelse på hverdagen",
            ),
        ),
        Questionnaire(
            "PRO-FUNKTION",
            "Funktionsevne",
            (
                "Gang på trapper",
                "Personlig hygiejne",
                "Indkøb",
                "Husligt arbejde",
                "Transport",
                "Arbejde eller fritid",
            ),
        ),
        Questionnaire(
            "PRO-TRIVSEL",
            "Trivsel",
            (
                "Humør",
                "Søvn",
                "Energi",
                "Bekymringer",
                "Sociale relationer",
            ),
        ),
    )
}

DOCUMENT_TYPES: tuple[str, ...] = (
    "Henvisning",
    "Epikrise",
    "Samtykkeerklæring",
    "Laboratoriesvar",
    "Korrespondance",
    "Andet",
)

DEPARTMENTS: dict[str, Department] = {
    d.code: d
    for d in (
        Department("MED", "Medicinsk afdeling", 24),
        Department("KIR", "Kirurgisk afdeling", 20),
        Department("AKM", "Akutmodtagelsen", 16),
        Department("KAR", "Kardiologisk afdeling", 18),
        Department("ORT", "Ortopædkirurgisk afdeling", 18),
    )
}

"""The procedure advice: each threshold's edge and date, from the seeded data rows (issue 8)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from innovation_cycle.services import procedures
from innovation_cycle.services.procedures import SEED, Threshold, advise

ROWS = [Threshold(k, Decimal(a), f, t, s) for k, a, f, t, s in SEED]


def _advice(amount, on, *, ugap=False, central=False, development=False):
    return advise(Decimal(amount), through_ugap=ugap, central_buyer=central, on=on, thresholds=ROWS,
                  needs_development=development)


def test_same_amount_in_2017_and_2026_gets_different_advice():
    in_2017 = _advice("80000", date(2017, 10, 1))
    in_2026 = _advice("80000", date(2026, 10, 1))
    assert in_2017.procedure == "adapted" and "n'existait pas" in in_2017.remark
    assert in_2026.procedure == "innovative_no_competition" and "R2122-9-1" in in_2026.legal_basis


@pytest.mark.parametrize(("on", "expected"), [
    (date(2018, 12, 24), "adapted"),  # the day before the experiment
    (date(2018, 12, 25), "innovative_no_competition"),
    (date(2021, 12, 15), "innovative_no_competition"),  # last day of the experiment's row
    (date(2021, 12, 16), "innovative_no_competition"),  # R2122-9-1
    (date(2030, 1, 1), "innovative_no_competition"),  # still in force
])
def test_innovative_purchase_by_date(on, expected):
    assert _advice("50000", on).procedure == expected


def test_the_experiment_and_the_code_cite_different_texts():
    assert "2018-1225" in _advice("50000", date(2019, 6, 1)).legal_basis
    assert "2021-1634" in _advice("50000", date(2022, 6, 1)).legal_basis


@pytest.mark.parametrize(("amount", "expected"), [
    ("99999.99", "innovative_no_competition"),
    ("100000", "adapted"),  # "inférieure à 100 000 euros": the threshold itself is out
])
def test_innovative_threshold_edge(amount, expected):
    assert _advice(amount, date(2026, 3, 1)).procedure == expected


@pytest.mark.parametrize(("amount", "on", "central", "expected"), [
    ("208999.99", date(2017, 6, 1), False, "adapted"),
    ("209000", date(2017, 6, 1), False, "formal"),  # local authorities 2016–2017
    ("134999.99", date(2017, 6, 1), True, "adapted"),
    ("135000", date(2017, 6, 1), True, "formal"),  # State 2016–2017
    ("215999.99", date(2026, 6, 1), False, "adapted"),
    ("216000", date(2026, 6, 1), False, "formal"),  # 2026–2027
    ("139999.99", date(2026, 6, 1), True, "adapted"),
    ("140000", date(2026, 6, 1), True, "formal"),
    ("140000", date(2025, 12, 31), True, "adapted"),  # 143 000 € until the end of 2025
    ("143000", date(2025, 12, 31), True, "formal"),
    ("135000", date(2018, 1, 1), True, "adapted"),  # 144 000 € from 2018
])
def test_formal_thresholds_by_buyer_and_date(amount, on, central, expected):
    assert _advice(amount, on, central=central).procedure == expected


def test_ugap_channel_needs_no_competition_whatever_the_amount():
    advice = _advice("5000000", date(2017, 9, 1), ugap=True)
    assert advice.procedure == "ugap" and "L2113-2" in advice.legal_basis and "L2113-4" in advice.legal_basis


def test_a_solution_to_develop_points_to_the_innovation_partnership():
    assert _advice("50000", date(2026, 1, 1), development=True).procedure == "innovation_partnership"


def test_thresholds_are_data_rows(app):
    from innovation_cycle.extensions import db
    from innovation_cycle.models import ProcedureThreshold

    assert procedures.seed_thresholds() == len(SEED)
    assert procedures.seed_thresholds() == 0
    row = db.session.query(ProcedureThreshold).filter_by(kind="innovative_no_competition",
                                                         valid_from=date(2021, 12, 16)).one()
    row.amount = Decimal("140000")  # an admin's correction changes the advice, not the code
    db.session.flush()
    advice = advise(Decimal("120000"), through_ugap=False, central_buyer=False, on=date(2026, 2, 1),
                    thresholds=procedures.thresholds())
    assert advice.procedure == "innovative_no_competition"

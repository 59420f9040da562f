"""The Flow page's discharges chart in words: figures from the same data the chart
draws, the usual missing said to be missing."""

from __future__ import annotations

from components import flow
from components.common import MISSING_VALUE_TEXT
from data.queries.flow import Discharges


def _dis(usual: bool) -> Discharges:
    today = [0] * 24
    admissions = [0] * 24
    today[9], today[10], today[15] = 2, 1, 4  # 15:00 is after "now"
    admissions[8], admissions[10] = 3, 2
    return Discharges(
        today=today,
        admissions=admissions,
        usual=[0.5] * 24 if usual else [None] * 24,
        usual_admissions=[0.25] * 24 if usual else [None] * 24,
        total_today=3,
        before_noon_today=3,
        yesterday_total=0,
        yesterday_before_noon=0,
        expected_by_11=4,
        done_by_11=3,
        weekend=False,
    )


def test_summary_counts_up_to_the_hour_and_the_usual() -> None:
    text = flow.discharge_text(_dis(usual=True), now_hour=10)
    assert text.summary.startswith("So far today 3 discharges and 5 admissions")
    # 11 hours (00..10) of 0.5 and 0.25
    assert "5.5 discharges and 2.8 admissions" in text.summary
    assert "2 more admitted than discharged so far." in text.summary
    assert text.columns[0] == "Hour" and len(text.rows) == 24
    assert text.rows[9] == ("09:00", "2", "0.5", "0", "0.2")
    # hours still to come are missing, not zero
    assert text.rows[15][1] == MISSING_VALUE_TEXT


def test_no_history_is_said_so() -> None:
    text = flow.discharge_text(_dis(usual=False), now_hour=10)
    assert "No usual figure yet" in text.summary
    assert text.rows[9][2] == MISSING_VALUE_TEXT

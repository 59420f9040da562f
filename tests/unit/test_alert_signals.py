"""Banner signals: pending alerts are said, not hidden behind "No firing alerts"."""

from __future__ import annotations

from components import alert_banner as banner
from tests.unit.test_alert_components import TZ, _alert, _text


def test_banner_counts_pending_alerts():
    alerts = [_alert(id=1, state="pending"), _alert(id=2, state="pending")]
    text = _text(banner.alert_banner(alerts, None, tz=TZ))
    assert "No firing alerts" in text and "2 pending" in text
    firing = [_alert(id=3), _alert(id=4, state="pending")]
    words = " ".join(_text(banner.alert_banner(firing, None, tz=TZ)).split())
    assert "1 firing alert · 1 pending" in words
    assert "pending" not in _text(banner.alert_banner([_alert(id=5)], None, tz=TZ))

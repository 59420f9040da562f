"""A regional (ICS-scale) layout: 10 acute sites, ~5,000 beds, ~4,000 ED arrivals a day."""

from __future__ import annotations

from dataclasses import replace

from feeds.demo_layout import SITES, SiteSpec

BED_SCALE = 1.3
ARRIVALS_PER_DAY = 4000.0
ADMIT_FACTOR = 0.72  # keeps admissions in line with the larger bed base per arrival


def ics_sites() -> tuple[SiteSpec, ...]:
    big, small = SITES
    specs = []
    for i in range(10):
        base = big if i % 2 == 0 else small
        wards = tuple(
            replace(
                w,
                core_beds=round(w.core_beds * BED_SCALE),
                escalation_beds=w.escalation_beds,
            )
            for w in base.wards
        )
        specs.append(
            replace(
                base,
                code=f"S{i + 1:02d}",
                name=f"{base.name.split(' ')[0]} Site {i + 1}",
                wards=wards,
                ed_spaces={k: round(v * 1.6) for k, v in base.ed_spaces.items()},
            )
        )
    weights = [s.daily_ed_arrivals for s in specs]
    total = sum(weights)
    return tuple(
        replace(s, daily_ed_arrivals=ARRIVALS_PER_DAY * w / total)
        for s, w in zip(specs, weights, strict=True)
    )


def bed_count(sites: tuple[SiteSpec, ...]) -> int:
    return sum(w.core_beds + w.escalation_beds for s in sites for w in s.wards)

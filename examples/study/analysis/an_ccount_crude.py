"""Crude case counts by region and by test type, as a table and two figures."""

import csv
import os
from collections import Counter

with open("output/cr_analysis_dataset.csv", newline="") as f:
    rows = list(csv.DictReader(f))

cases = [r for r in rows if r["case"] == "1"]
by_region = Counter(r["region"] for r in cases)
by_type = Counter(r["test_type"] for r in cases)


def redact(n):
    """Small numbers are suppressed, as in any released OpenSAFELY output."""
    return n if n > 7 else 0


def bar_chart(path, title, counts):
    items = sorted(counts.items())
    width, bar_h, gap = 480, 22, 8
    height = 40 + len(items) * (bar_h + gap)
    top = max([c for _, c in items] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
        f'<text x="10" y="20" font-family="sans-serif" font-size="14">{title}</text>',
    ]
    for i, (label, count) in enumerate(items):
        y = 35 + i * (bar_h + gap)
        w = int((width - 170) * count / top)
        parts.append(f'<text x="10" y="{y + 15}" font-family="sans-serif" font-size="12">{label}</text>')
        parts.append(f'<rect x="120" y="{y}" width="{w}" height="{bar_h}" fill="#4c72b0"/>')
        parts.append(f'<text x="{125 + w}" y="{y + 15}" font-family="sans-serif" font-size="12">{count}</text>')
    parts.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))


os.makedirs("logs", exist_ok=True)
with open("output/case_counts.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["group", "value", "cases"])
    for region, n in sorted(by_region.items()):
        writer.writerow(["region", region, redact(n)])
    for test_type, n in sorted(by_type.items()):
        writer.writerow(["test_type", test_type, redact(n)])

bar_chart("output/tpp_sgss_counts.svg", "Positive SGSS tests by region",
          {k: redact(v) for k, v in by_region.items()})
bar_chart("output/tpp_type_counts.svg", "Positive tests by test type",
          {k: redact(v) for k, v in by_type.items()})

with open("logs/an_ccount_crude.log", "w") as log:
    log.write(f"cases: {len(cases)}\n")

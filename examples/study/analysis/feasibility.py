"""Feasibility: is the cohort large enough, and how many tested positive?"""

import csv
import os

with open("output/input.csv", newline="") as f:
    rows = list(csv.DictReader(f))

positive = sum(1 for r in rows if r["sgss_positive"] == "1")
os.makedirs("logs", exist_ok=True)
with open("logs/feasibility.log", "w") as log:
    log.write(f"patients: {len(rows)}\n")
    log.write(f"positive tests: {positive}\n")
    log.write(f"feasible: {'yes' if positive >= 100 else 'no'}\n")
print(f"{len(rows)} patients, {positive} positive")

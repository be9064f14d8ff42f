"""Creates the analysis dataset: adults with an age band and a case flag."""

import csv
import os

BANDS = [(18, 39, "18-39"), (40, 59, "40-59"), (60, 79, "60-79"), (80, 200, "80+")]


def age_band(age):
    for low, high, label in BANDS:
        if low <= age <= high:
            return label
    return "unknown"


with open("output/input.csv", newline="") as f:
    rows = list(csv.DictReader(f))

kept = 0
os.makedirs("logs", exist_ok=True)
with open("output/cr_analysis_dataset.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["patient_id", "age_band", "sex", "region", "case", "test_type", "test_week"])
    for r in rows:
        writer.writerow([
            r["patient_id"], age_band(int(r["age"])), r["sex"], r["region"],
            r["sgss_positive"], r["test_type"], r["test_week"],
        ])
        kept += 1

with open("logs/cr_analysis_dataset.log", "w") as log:
    log.write(f"input rows: {len(rows)}\nanalysis rows: {kept}\n")

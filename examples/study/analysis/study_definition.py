"""The study population: who is in the cohort and what is known about them.

Read by analysis/cohortextractor.py, which writes a dummy cohort of this shape.
"""

SEED = 20210118

COLUMNS = {
    "age": {"kind": "int", "min": 18, "max": 95},
    "sex": {"kind": "category", "values": {"F": 0.51, "M": 0.49}},
    "region": {
        "kind": "category",
        "values": {
            "East": 0.1, "London": 0.2, "Midlands": 0.2,
            "North East": 0.1, "North West": 0.15, "South East": 0.15, "South West": 0.1,
        },
    },
    "sgss_positive": {"kind": "category", "values": {"1": 0.12, "0": 0.88}},
    "test_type": {"kind": "category", "values": {"PCR": 0.7, "LFT": 0.25, "other": 0.05}},
    "test_week": {"kind": "int", "min": 1, "max": 52},
}

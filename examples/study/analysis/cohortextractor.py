"""A stand-in for `cohortextractor generate_cohort` on the dummy-data backend.

Writes `population_size` rows (from --expectations-population) of the columns
declared in the study definition, deterministically: the same arguments always
give the same bytes.
"""

import argparse
import csv
import importlib.util
import os
import random
import sys


def load_definition(name):
    path = os.path.join("analysis", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def draw(rng, column):
    if column["kind"] == "int":
        return rng.randint(column["min"], column["max"])
    values = list(column["values"])
    weights = [column["values"][v] for v in values]
    return rng.choices(values, weights)[0]


def main(argv):
    parser = argparse.ArgumentParser(prog="cohortextractor")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate_cohort")
    gen.add_argument("--study-definition", default="study_definition")
    gen.add_argument("--expectations-population", type=int, default=1000)
    gen.add_argument("--output-dir", default="output")
    args = parser.parse_args(argv)

    definition = load_definition(args.study_definition)
    rng = random.Random(definition.SEED)
    os.makedirs(args.output_dir, exist_ok=True)
    out = os.path.join(args.output_dir, "input.csv")
    names = list(definition.COLUMNS)
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patient_id"] + names)
        for patient_id in range(1, args.expectations_population + 1):
            writer.writerow([patient_id] + [draw(rng, definition.COLUMNS[n]) for n in names])
    print(f"wrote {args.expectations_population} patients to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The score of the last mutmut run (mutants/): killed N of M mutants (P%) per module and overall.

Killed counts the mutants a test failed on or that ran out of time; survivors are those every test passed with, or
that no test reached. Exits 1 under MUTATION_MIN percent (default 85) overall, or when some mutants were never checked.

    python scripts/mutation_report.py                       # the score
    python scripts/mutation_report.py --survivors FILE [--only 'projects/services.py' ...]   # and the survivors' diffs
"""

import argparse
import fnmatch
import json
import os
import sys
from pathlib import Path

MUTANTS = Path("mutants")
# mutmut's exit codes (mutmut.stats.status_by_exit_code); anything else is "suspicious".
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests"}
SKIPPED = {34: "skipped", 37: "caught by type check"}


def module_of(meta: Path) -> str:
    return str(meta.relative_to(MUTANTS)).removesuffix(".meta")


def load() -> dict[str, dict[str, int | None]]:
    results = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        if exit_codes:
            results[module_of(meta)] = exit_codes
    return results


def status(exit_code: int | None) -> str:
    if exit_code is None:
        return "not checked"
    return KILLED.get(exit_code) or NOT_KILLED.get(exit_code) or SKIPPED.get(exit_code) or "suspicious"


def line(name: str, killed: int, total: int) -> str:
    percent = 100.0 * killed / total if total else 100.0
    return f"{name:<28} killed {killed} of {total} mutants ({percent:.1f}%)"


def write_survivors(results: dict[str, dict[str, int | None]], path: Path, only: list[str]) -> int:
    """Every mutant no test killed, grouped by module: its function, status, name and diff."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    sections, total = [], 0
    for module, exit_codes in results.items():
        if only and not any(fnmatch.fnmatch(module, pattern) for pattern in only):
            continue
        blocks = []
        for name, exit_code in sorted(exit_codes.items(), key=lambda item: _natural(item[0])):
            if exit_code is None or exit_code in KILLED or exit_code in SKIPPED:
                continue  # not checked yet, killed, or never run
            function = name.rpartition(".")[2].removeprefix("x_").rpartition("__mutmut_")[0]
            diff = get_diff_for_mutant(name, path=module)
            blocks.append(f"## {module}  {function}  [{status(exit_code)}]  {name}\n{diff.strip()}\n")
        sections.append(f"# {module}: {len(blocks)} surviving mutants\n\n" + "\n".join(blocks))
        total += len(blocks)
    path.write_text(f"{total} surviving mutants\n\n" + "\n".join(sections))
    return total


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return (stem, int(number) if number.isdigit() else 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", type=Path, help="write every survivor (module, function, diff) to this file")
    parser.add_argument("--only", action="append", default=[], help="with --survivors: modules matching this glob")
    args = parser.parse_args()
    minimum = float(os.environ.get("MUTATION_MIN", "85"))

    results = load()
    if not results:
        print("No mutation results in mutants/: run `make mutation` first.")
        return 1
    all_killed = all_total = unchecked = 0
    for module, exit_codes in results.items():
        statuses = [status(code) for code in exit_codes.values()]
        unchecked += statuses.count("not checked")
        killed = sum(code in KILLED for code in exit_codes.values())
        total = sum(code not in SKIPPED and code is not None for code in exit_codes.values())
        others = {s: statuses.count(s) for s in sorted(set(statuses)) if s not in ("killed", "survived")}
        detail = ", ".join(f"{count} {name}" for name, count in others.items())
        print(line(module, killed, total) + (f"  [{detail}]" if detail else ""))
        all_killed, all_total = all_killed + killed, all_total + total
    print(line("overall", all_killed, all_total))

    if args.survivors:
        count = write_survivors(results, args.survivors, args.only)
        print(f"{count} surviving mutants written to {args.survivors}")
    if unchecked:
        print(f"{unchecked} mutants were not checked (an interrupted run?): run `make mutation` again.")
        return 1
    score = 100.0 * all_killed / all_total if all_total else 100.0
    if score < minimum:
        print(f"Mutation score {score:.1f}% is under MUTATION_MIN={minimum:g}%.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

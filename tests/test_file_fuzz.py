"""The file fuzzer, a short run: 54 mutated copies of legitimate files of every format
(tests/file_mutations.py), loaded in one child process under memory and time limits
(tests/file_cases.py).  Each loads (with the original's predictions when no edit can change the
file's meaning) or raises ModelFileError naming the file; none grows memory past the allowance,
takes too long or changes anything.  tools/fuzz_files.py runs the same for as long as you like."""
import pytest

import file_cases as fc
import file_mutations as fm

CASES = 54                # six of each legitimate file


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    seeds_dir = tmp_path_factory.mktemp("seeds")
    seeds = fc.write_seeds(seeds_dir)
    cases = fm.draw_cases(seeds, tmp_path_factory.mktemp("mutated"), CASES, derandomize=True)
    return cases, fc.run_cases(cases, seeds_dir)


def test_every_mutated_file_loads_or_raises_model_file_error_within_bounds(fuzzed):
    cases, results = fuzzed
    assert len(cases) == CASES
    failing = {f"{case['seed']} {case['edits']}": fc.problems(results[case["id"]]) for case in cases}
    failing = {k: v for k, v in failing.items() if v}
    assert not failing, failing


def test_the_fuzzer_reaches_every_format_and_both_outcomes(fuzzed):
    cases, results = fuzzed
    suffixes = {case["seed"].partition(".")[2] for case in cases}
    assert suffixes == {"minirnn", "keras", "h5", "weights.npz", "weights.h5", "safetensors"}, suffixes
    statuses = {results[case["id"]]["status"] for case in cases}
    assert {"loaded", "ModelFileError"} <= statuses, statuses

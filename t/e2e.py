#!/usr/bin/env python3
"""Runs the end-to-end tests (t/test_*.py) and prints one closing line.

Without root (or a tool) a test is skipped and the summary says why; under
CI (CI set) or with E2E_REQUIRE=1 a test that cannot run fails the run.
Usage: t/e2e.py [test_module[.Class[.test]] ...]
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wl  # noqa: E402


def main():
    loader = unittest.TestLoader()
    if len(sys.argv) > 1:
        suite = loader.loadTestsFromNames(sys.argv[1:])
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failing = {id(test) for test, _ in result.failures + result.errors}
    failed = len(failing) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(result.testsRun - failed - skipped, 0)
    if skipped:
        print("skipped (%d): %s" % (skipped, "; ".join(sorted({r for _, r in result.skipped}))))
    print("e2e: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    gaps = [reason for _, reason in result.skipped if not reason.startswith(wl.NOT_APPLICABLE)]
    if gaps and wl.required():
        print("e2e: CI or E2E_REQUIRE=1: every test must run, %d did not" % len(gaps))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

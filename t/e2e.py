#!/usr/bin/env python3
"""Runs the end-to-end tests (t/test_*.py) and prints one closing line.

Without root the namespace tests are skipped, and the summary says so; under
CI (CI=1) a test that cannot run, for want of root or a program, fails.
Usage: t/e2e.py [test_module[.Class[.test]] ...]
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""make bench's rounds and how their figures are printed: each figure per
round, its mean and spread, ratios round by round, goals as "met" or "NOT
met" (never asserted)."""
import os
import sys

from peers import Proxy

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))


def spread(values):
    """(max - min) / mean, in percent: how far the rounds disagree."""
    mean = sum(values) / len(values)
    return 100.0 * (max(values) - min(values)) / mean if mean else 0.0


def mean(values):
    return sum(values) / len(values)


def line(label, values, unit, fmt="%.0f"):
    print("  %-22s %10s %-9s rounds: %-28s spread %4.1f%%" % (
        label, fmt % mean(values), unit, " ".join(fmt % v for v in values), spread(values)))
    sys.stdout.flush()
    return mean(values)


def ratio_line(label, numerator, denominator, goal=None, lower_better=False, every=False):
    """The ratio round by round (each round's figures side by side), and their
    mean; the goal judged on the mean, or on every round (every=True)."""
    ratios = [a / b for a, b in zip(numerator, denominator) if b]
    if not ratios:
        return
    verdict = ""
    if goal is not None:
        judged = ratios if every else [mean(ratios)]
        met = all(r <= goal if lower_better else r >= goal for r in judged)
        verdict = "  goal %s %.2fx%s: %s" % ("<=" if lower_better else ">=", goal,
                                           " in every round" if every else "",
                                           "met" if met else "NOT met")
    print("  ratio %-44s %.2fx  rounds: %s%s" % (label, mean(ratios),
                                                 " ".join("%.2f" % r for r in ratios), verdict))
    sys.stdout.flush()


def rounds(topo, kinds, measure, start, first=None):
    """results[kind] = [figure per round], proxies in turn within each round.
    Kind "ends" is measured without a proxy (measure gets None); first:
    {name: function(topo)}, measured at the start of every round."""
    results = {kind: [] for kind in list(first or ()) + list(kinds)}
    for _ in range(ROUNDS):
        for name, function in (first or {}).items():
            results[name].append(function(topo))
        for kind in kinds:
            proxy = Proxy(topo, kind) if kind != "ends" else None
            try:
                if proxy:
                    start(proxy)
                results[kind].append(measure(topo, proxy))
            finally:
                if proxy:
                    proxy.stop()
    return results


def column(results, kind, key):
    return [r[key] for r in results[kind]]

"""What an evaluation report says: its markdown table, and the gates ``factcheck eval``
applies to it (factcheck against each baseline, and its decision shares)."""

from __future__ import annotations

from typing import Any

from service.evaluation.scoring import METRICS

FACTCHECK = "factcheck"
LABELS = {
    "hit@1": "hit@1",
    "hit@3": "hit@3",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
    "source_recall@10": "source recall@10",
}
GATE_METRIC = "ndcg@10"


def below_baselines(report: dict[str, Any], metric: str = GATE_METRIC) -> list[str]:
    """One message per baseline whose figure (as reported, 3 decimals) beats factcheck's."""
    systems = report["systems"]
    if len(systems) < 2:
        raise ValueError("the report has no baselines to compare with")
    ours = systems[FACTCHECK]["metrics"][metric]
    return [
        f"factcheck {LABELS[metric]} {ours:.3f} is below {name}'s {result['metrics'][metric]:.3f}"
        for name, result in systems.items()
        if name != FACTCHECK and ours < result["metrics"][metric]
    ]


def below_shares(
    report: dict[str, Any], min_kept: float | None, min_rejected: float | None
) -> list[str]:
    """One message per decision share of factcheck's below its bar (None: not gated); a set
    without unanswerable (or answerable) claims has nothing to gate on that side."""
    ours = report["systems"][FACTCHECK]
    failures = []
    for label, part, bar in (("kept", "kept", min_kept), ("rejected", "rejected", min_rejected)):
        counts = ours[part]
        if bar is not None and counts["of"] and counts["count"] < bar * counts["of"]:
            failures.append(
                f"factcheck {label} {_count(counts)} on {report['claims_file']} is below {bar:.0%}"
            )
    return failures


def format_table(report: dict[str, Any]) -> str:
    """A header line, then one markdown table with a row per system."""
    header = (
        "| system | " + " | ".join(LABELS[m] for m in METRICS) + " | kept | rejected | ms/claim |"
    )
    rule = "|" + "---|" * (len(METRICS) + 4)
    rows = [
        f"| {name} | "
        + " | ".join(f"{result['metrics'][m]:.3f}" for m in METRICS)
        + f" | {_count(result['kept'])} | {_count(result['rejected'])}"
        + f" | {result['ms_per_claim']} |"
        for name, result in report["systems"].items()
    ]
    summary = (
        f"{report['corpus']}: {report['articles']} articles, {report['statements']} statements; "
        f"{report['claims_file']}: {report['claims']} claims, {report['answerable']} answerable, "
        f"{report['unrelated']} unrelated"
    )
    lines = [summary, "", header, rule, *rows]
    if report["index_statements"] != report["statements"]:
        lines += [
            "",
            f"note: the service's index holds {report['index_statements']} of the "
            f"{report['statements']} stored statements the baselines ranked",
        ]
    if report.get("refused_claims"):
        lines += [
            "",
            f"note: the API refused {report['refused_claims']} claim(s) as input (control "
            "characters, schemas/common.py); factcheck is scored as answering them with nothing",
        ]
    return "\n".join(lines)


def _count(part: dict[str, int]) -> str:
    return f"{part['count']}/{part['of']}"

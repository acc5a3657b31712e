"""The benchmark's outputs: a Markdown table (printed and saved), the JSON of every figure, and
a PNG of check latency against corpus size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB; "
        f"load average before {m['load_before']}, after {m['load_after']}; "
        f"commit {m['commit']}; {results['label']}",
        "",
        "| statements | ready s (first / all workers) | c | p50 ms | p95 ms | p99 ms | req/s "
        "| errors | workers RSS / PSS, all PSS MB | bare ST p50 ms | bm25s p50 ms | p50 vs ST "
        "| p50 vs bm25s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        st = run["baselines"].get("sentence_transformers", {}).get("p50_ms")
        bm = run["baselines"].get("bm25s", {}).get("p50_ms")
        mem = run["memory_after"]
        for load in run["load"]:
            lines.append(
                f"| {run['statements']:,} | {run['ready_s']:.2f} / {run['all_ready_s']:.2f} "
                f"| {load['concurrency']} | {load['p50_ms']} | {load['p95_ms']} "
                f"| {load['p99_ms']} | {load['rps']} | {load['errors']} "
                f"| {mem['workers_rss_mb']} / {mem['workers_pss_mb']}, {mem.get('total_pss_mb')} "
                f"| {st} | {bm} "
                f"| {_ratio(load['p50_ms'], st)} | {_ratio(load['p50_ms'], bm)} |"
            )
    for run in results["runs"]:
        a = run.get("ann", {})
        if "ranked_recall_at_10" in a:
            built = f"built in {a['ann_build_s']} s" if a.get("ann_built") else "already saved"
            lines.append(
                f"Approximate index at {run['statements']:,} ({built}): recall@10 against the "
                f"exact scan {a['dense_recall_at_10']} (dense top 10), "
                f"{a['ranked_recall_at_10']} (the check's ranked list), over {a['claims']} "
                f"claims; in-process ranking p50 {a['rank_p50_ms_ann']} ms against "
                f"{a['rank_p50_ms_exact']} ms exact."
            )
    lines += peers(results)
    ingest = results.get("ingest")
    if ingest:
        lines += [
            "",
            f"Ingest through POST /v1/articles: {ingest['statements']} statements in "
            f"{ingest['seconds']} s with {ingest['clients']} clients = "
            f"**{ingest['statements_per_s']} statements/s**, {ingest['errors']} errors.",
        ]
    for run in results["runs"]:
        vis = run.get("visibility")
        if vis:
            lines.append(
                f"Ingest-to-visible under c={run['load'][-1]['concurrency']} load at "
                f"{run['statements']:,}: a posted article was found by the next check within "
                f"{vis['worst_s']} s at worst ({vis['attempts']} probes, that check's queueing "
                f"included); never found {vis['never_found']}, missed by a later check on any "
                f"worker {vis['missed_after_found']} times."
            )
    return "\n".join(lines) + "\n"


def _peer_rows(run: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(peer, how, figures) for every peer measured on this corpus."""
    rows = []
    names = {"sentence_transformers": "bare ST", "bm25s": "bm25s"}
    for key, name in names.items():
        if key in run["baselines"]:
            rows.append((name, "in process", {"concurrency": 1, **run["baselines"][key]}))
    for kind, peer in run.get("txtai", {}).items():
        rows.append((f"txtai {kind}", "in process", {"concurrency": 1, **peer["in_process"]}))
        workers = peer["http"].get("workers", "?")
        for load in peer["http"]["load"]:
            rows.append((f"txtai {kind}", f"HTTP (uvicorn, {workers} workers)", load))
    return rows


def peers(results: dict[str, Any]) -> list[str]:
    """The peers beside factcheck at the same concurrency; ratio < 1: factcheck is faster."""
    lines = [
        "",
        "| statements | peer | how | c | p50 ms | p95 ms | p99 ms | req/s "
        "| factcheck p50 / p99 ms, same c | factcheck/peer p50 | factcheck/peer p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        ours = {load["concurrency"]: load for load in run["load"]}
        for name, how, fig in _peer_rows(run):
            c = fig["concurrency"]
            fc = ours.get(c, {})
            rate = fig.get("rps", fig.get("per_s"))
            errors = f", {fig['errors']} errors" if fig.get("errors") else ""
            lines.append(
                f"| {run['statements']:,} | {name} | {how} | {c} | {fig['p50_ms']} "
                f"| {fig['p95_ms']} | {fig['p99_ms']} | {rate}{errors} "
                f"| {fc.get('p50_ms', '-')} / {fc.get('p99_ms', '-')} "
                f"| {_ratio(fc.get('p50_ms'), fig['p50_ms'])} "
                f"| {_ratio(fc.get('p99_ms'), fig['p99_ms'])} |"
            )
    for run in results["runs"]:
        for kind, peer in run.get("txtai", {}).items():
            http = peer["http"]
            lines.append(
                f"txtai {kind} at {run['statements']:,}: index() {peer['index_s']} s, "
                f"API ready {http['ready_s']} s, API all PSS {http['memory']['total_pss_mb']} MB."
            )
        if run.get("txtai_skipped"):
            lines.append(f"txtai at {run['statements']:,}: skipped ({run['txtai_skipped']}).")
    rates = results.get("txtai_ingest")
    if rates:
        bare = rates["bare_encode"]
        lines.append(
            f"Ingest beside bare encode ({rates['statements']:,} statements, own model): bare "
            f"encode {bare} statements/s; txtai dense index() {rates['txtai_dense']} "
            f"({_ratio(rates['txtai_dense'], bare)}), hybrid {rates['txtai_hybrid']} "
            f"({_ratio(rates['txtai_hybrid'], bare)})."
        )
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results["runs"], key=lambda r: r["statements"])
    sizes = [r["statements"] for r in runs]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    concurrencies = sorted({load["concurrency"] for r in runs for load in r["load"]})
    for c in concurrencies:
        for q, style in (("p50_ms", "-o"), ("p99_ms", ":o")):
            ys = [next(x[q] for x in r["load"] if x["concurrency"] == c) for r in runs]
            ax.plot(sizes, ys, style, label=f"factcheck c={c} {q[:3]}")
    st = [r["baselines"].get("sentence_transformers", {}).get("p50_ms") for r in runs]
    bm = [r["baselines"].get("bm25s", {}).get("p50_ms") for r in runs]
    if all(st):
        ax.plot(sizes, st, "--s", label="bare sentence-transformers p50")
    if all(bm):
        ax.plot(sizes, bm, "--^", label="bm25s p50")
    for kind, style in (("dense", "-.v"), ("hybrid", "-.D")):
        tx = [
            next(iter(r.get("txtai", {}).get(kind, {}).get("http", {}).get("load", [])), {})
            for r in runs
        ]
        if all(t.get("p50_ms") for t in tx):
            c = tx[0]["concurrency"]
            ax.plot(sizes, [t["p50_ms"] for t in tx], style, label=f"txtai {kind} API c={c} p50")
    ax.set_xscale("log")
    ax.set_yscale("log")  # 10k..1M spans two decades of latency
    ax.set_xlabel("statements in the index")
    ax.set_ylabel("latency per check (ms)")
    ax.set_title("/v1/check latency vs corpus size (2 workers, loopback)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(results: dict[str, Any], out: Path, png: Path | None) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "results.md").write_text(table)
    if png is not None:
        plot(results, png)
    return table

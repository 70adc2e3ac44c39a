"""A period's reconciliation for people: a Markdown table, a chart (PNG), plain text."""

from __future__ import annotations

import base64
import io

from connector_dagster.engine.reconcile import FlowReconciliation, shown

DIFFERENCES_SHOWN = 100


def markdown(period: str, results: list[FlowReconciliation]) -> str:
    lines = [f"## Reconciliation of {period[:7]}", ""]
    for r in results:
        verdict = "reconciles" if r.reconciles else f"**{len(r.differences)} difference(s)**"
        lines += [f"### {r.label}: {verdict}", ""]
        lines += [
            "| " + " | ".join(f"{k.replace('_', ' ')}" for k in r.counts) + " |",
            "|" + "---|" * len(r.counts),
            "| " + " | ".join(str(v) for v in r.counts.values()) + " |",
            "",
            f"| {' | '.join(r.dimensions)} | source | target | ledger |",
            "|" + "---|" * (len(r.dimensions) + 3),
        ]
        for dims, t in sorted(r.totals.items()):
            mark = "" if t["source"] == t["target"] == t["ledger"] else " ⚠"
            lines.append("| {} | {source} | {target} | {ledger}{}|".format(
                " | ".join(dims), mark + " ", **shown(t)))  # fmt: skip
        if r.differences:
            lines += ["", "Differences:", ""]
            lines += [f"- {d}" for d in r.differences[:DIFFERENCES_SHOWN]]
            if len(r.differences) > DIFFERENCES_SHOWN:
                lines.append(f"- … {len(r.differences) - DIFFERENCES_SHOWN} more")
        if r.set_aside:
            lines += ["", "Set aside by finance (left out of the totals):", ""]
            lines += [f"- {k}" for k in r.set_aside[:DIFFERENCES_SHOWN]]
        if r.corrected:
            lines += ["", "Corrections after close (counted in the period they landed in):", ""]
            lines += [f"- {k}" for k in r.corrected[:DIFFERENCES_SHOWN]]
        lines.append("")
    return "\n".join(lines)


def chart_png(period: str, results: list[FlowReconciliation]) -> bytes:
    """Each flow's records in the source, in the target and synced in the ledger, side
    by side (counts: a flow's totals mix units, money beside PO and line counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r.flow for r in results]
    sides = ("source", "target", "ledger")
    keys = {"source": "source_records", "target": "target_records", "ledger": "ledger_synced"}
    totals = {side: [r.counts.get(keys[side], 0) for r in results] for side in sides}
    figure, axes = plt.subplots(figsize=(2.5 + 2 * max(1, len(results)), 4), dpi=100)
    width = 0.25
    for n, side in enumerate(sides):
        axes.bar([i + (n - 1) * width for i in range(len(results))], totals[side], width,
                 label=side)  # fmt: skip
    axes.set_xticks(range(len(results)), labels)
    axes.set_title(f"{period[:7]}: records by system")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def chart_markdown(period: str, results: list[FlowReconciliation]) -> str:
    data = base64.b64encode(chart_png(period, results)).decode()
    return f"![records of {period[:7]}](data:image/png;base64,{data})"


def verdict(period: str, results: list[FlowReconciliation]) -> str:
    """The period's outcome in one line: reconciles, or how many differences in which
    flows and the first of them."""
    bad = [r for r in results if not r.reconciles]
    if not bad:
        flows = ", ".join(r.flow for r in results) or "no flow"
        return f"{period[:7]} reconciles ({flows})"
    n = sum(len(r.differences) for r in bad)
    where = ", ".join(f"{r.flow} {len(r.differences)}" for r in bad)
    return (
        f"{period[:7]} does not reconcile: {n} difference(s) ({where}); first: "
        f"{bad[0].flow}: {bad[0].differences[0]}"
    )


def text(period: str, results: list[FlowReconciliation]) -> str:
    """What `connector-dagster reconcile` prints: the verdict first, then each flow."""
    out = [verdict(period, results)]
    for r in results:
        head = "reconciles" if r.reconciles else f"DOES NOT RECONCILE ({len(r.differences)})"
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r.counts.items())
        out += [f"{period[:7]} {r.flow}: {head}; {counts}"]
        for dims, t in sorted(r.totals.items()):
            out.append("  {}: source {source} target {target} ledger {ledger}".format(
                " / ".join(dims), **shown(t)))  # fmt: skip
        out += [f"  ! {d}" for d in r.differences]
        out += [f"  ~ set aside: {k}" for k in r.set_aside]
        out += [f"  ~ corrected: {k}" for k in r.corrected]
    return "\n".join(out)

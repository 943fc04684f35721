"""The markdown tables of an evaluation: clip accuracy per class, and a stream's operating
points per keyword. (Its plots are in `gru_edge.plots`.)"""

from __future__ import annotations

from gru_edge.evaluation.clips import MODES


def report_table(result: dict) -> str:
    """The markdown table of a report of `gru_edge.evaluation.evaluate.evaluate`."""
    return stream_table(result) if "det" in result else clip_table(result)


def clip_table(result: dict) -> str:
    labels = list(result["reset"]["per_class"])
    rows = [
        "| class | clips | accuracy, state reset per clip | accuracy, state carried |",
        "|---|---:|---:|---:|",
    ]
    for label in labels:
        reset, carried = (result[m]["per_class"][label] for m in MODES)
        rows.append(
            f"| {label} | {reset['count']} | {_pct(reset['accuracy'])} | "
            f"{_pct(carried['accuracy'])} |"
        )
    rows.append(
        f"| **all** | {result['reset']['clips']} | "
        f"**{_pct(result['reset']['accuracy'])}** | "
        f"**{_pct(result['carried']['accuracy'])}** |"
    )
    return "\n".join(rows)


def stream_table(result: dict) -> str:
    frr_at = result["frr_at_fa_per_hour"]
    fa_at = result["fa_per_hour_at_frr"]
    default = result["at_model_threshold"]
    where = (
        "the calibrated thresholds"
        if "thresholds" in default
        else f"threshold {result['detector']['threshold']:g}"
    )
    rows = [
        f"| keyword | in stream | FRR at <= {frr_at['limit']['fa_per_hour']} FA/h | "
        f"FA/h at <= {fa_at['limit']['frr']:.0%} FRR | FRR / FA/h at {where} |",
        "|---|---:|---:|---:|---:|",
    ]
    for keyword, count in [
        *result["keywords"].items(),
        ("**all**", sum(result["keywords"].values())),
    ]:
        overall = keyword == "**all**"
        frr = frr_at["overall"] if overall else frr_at["per_keyword"][keyword]
        fa = fa_at["overall"] if overall else fa_at["per_keyword"][keyword]
        here = default if overall else default["per_keyword"][keyword]
        rows.append(
            f"| {keyword} | {count} | {_point(frr, 'frr')} | {_point(fa, 'fa_per_hour')} | "
            f"{_pct(here['frr'])} / {here['fa_per_hour']:.2f} |"
        )
    if result.get("negatives_only"):
        rows.append(
            f"\nnegative audio only ({result['hours'] * 60:.1f} min, no keyword in it but "
            f"{result['marked_spans']} marked spans): {default['fa_per_hour']:.2f} false "
            f"accepts per hour at {where}"
        )
    latency = result["latency_seconds"]
    if latency["median"] is not None:
        rows.append(
            f"\nlatency from the end of a keyword to its detection: median "
            f"{latency['median'] * 1000:.0f} ms, 90th percentile "
            f"{latency['p90'] * 1000:.0f} ms ({result['hours']:g} h of stream)"
        )
    return "\n".join(rows)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _point(point: dict | None, key: str) -> str:
    if point is None:
        return "not reached"
    shown = _pct(point[key]) if key == "frr" else f"{point[key]:.2f}"
    return f"{shown} (threshold {point['threshold']:g})"

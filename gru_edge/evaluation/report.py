"""Tables and plots of an evaluation: clip accuracy, and the DET curve of a stream."""

from __future__ import annotations

from pathlib import Path

from gru_edge.evaluation.clips import MODES
from gru_edge.training.report import plot_confusion, save_figure


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
    threshold = result["detector"]["threshold"]
    rows = [
        f"| keyword | in stream | FRR at <= {frr_at['limit']['fa_per_hour']} FA/h | "
        f"FA/h at <= {fa_at['limit']['frr']:.0%} FRR | FRR / FA/h at threshold "
        f"{threshold:g} |",
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
    latency = result["latency_seconds"]
    if latency["median"] is not None:
        rows.append(
            f"\nlatency from the end of a keyword to its detection: median "
            f"{latency['median'] * 1000:.0f} ms, 90th percentile "
            f"{latency['p90'] * 1000:.0f} ms ({result['hours']:g} h of stream)"
        )
    return "\n".join(rows)


def plot_det(result: dict, path: Path) -> None:
    """False rejection rate against false accepts per hour, over the threshold sweep."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5))
    points = result["det"]
    floor = 0.5 / result["hours"]  # zero false accepts drawn at half of one per stream
    for keyword in result["keywords"]:
        fa = [max(p["per_keyword"][keyword]["fa_per_hour"], floor) for p in points]
        axis.plot(
            fa,
            [p["per_keyword"][keyword]["frr"] * 100 for p in points],
            alpha=0.4,
            linewidth=1,
            label=keyword,
        )
    axis.plot(
        [max(p["fa_per_hour"], floor) for p in points],
        [p["frr"] * 100 for p in points],
        color="black",
        linewidth=2.5,
        label="all keywords",
    )
    target = {"color": "red", "linestyle": ":", "linewidth": 1}
    axis.axvline(result["frr_at_fa_per_hour"]["limit"]["fa_per_hour"], **target)
    axis.axhline(result["fa_per_hour_at_frr"]["limit"]["frr"] * 100, **target)
    axis.set_xscale("log")
    axis.set_xlabel("false accepts per hour")
    axis.set_ylabel("false rejection rate (%)")
    axis.set_title(f"DET over {result['hours']:g} h of {result['split']} stream")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7, ncol=2)
    save_figure(figure, path)


def plot_clip_confusions(result: dict, folder: Path) -> list[Path]:
    labels = tuple(result["reset"]["per_class"])
    paths = []
    for mode in MODES:
        path = folder / f"confusion_{mode}.png"
        plot_confusion(
            result[mode]["confusion"],
            labels,
            f"state {mode}: accuracy {result[mode]['accuracy']:.3f}",
            path,
        )
        paths.append(path)
    return paths


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _point(point: dict | None, key: str) -> str:
    if point is None:
        return "not reached"
    shown = _pct(point[key]) if key == "frr" else f"{point[key]:.2f}"
    return f"{shown} (threshold {point['threshold']:g})"

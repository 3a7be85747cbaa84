"""Draws the CloudWatch dashboard that template.yaml defines (ApiType HTTP) as docs/dashboard.svg:
each widget where the dashboard's 24-column grid puts it, with its title and its metrics. It shows
the layout and what is plotted, not data: no AWS account is needed.
Run: scripts/dashboard.sh (matplotlib and cfn-lint in .venv/dashboard)."""

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

from cfn import ROOT, Stack  # noqa: E402
from template_test import dashboard_widgets  # noqa: E402

OUT = ROOT / "docs" / "dashboard.svg"
COLUMNS = 24
# CloudWatch's default palette, in the order it colours a widget's lines.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
UNIT = 0.55  # inches per grid unit


def metric_label(row):
    namespace, metric, *rest = row
    options = rest[-1] if rest and isinstance(rest[-1], dict) else {}
    label = options.get("label") or metric
    return f"{label}  ({namespace} {metric}, {options.get('stat', 'Average')})"


def draw(ax, widget):
    x, y, w, h = widget["x"], widget["y"], widget["width"], widget["height"]
    props = widget["properties"]
    ax.add_patch(
        FancyBboxPatch(
            (x + 0.1, y + 0.1), w - 0.2, h - 0.2, boxstyle="round,pad=0,rounding_size=0.15",
            facecolor="white", edgecolor="#aab7b8", linewidth=1,
        )
    )
    ax.text(x + 0.4, y + 0.65, props["title"], fontsize=9, fontweight="bold", va="center", color="#16191f")
    if widget["type"] == "alarm":
        names = [arn.removeprefix("arn:").removesuffix("Alarm") for arn in props["alarms"]]
        per_row = 3
        for i, name in enumerate(names):
            col, line = i % per_row, i // per_row
            cx, cy = x + 0.4 + col * (w - 0.8) / per_row, y + 1.3 + line * 0.7
            ax.add_patch(Rectangle((cx, cy - 0.22), 0.45, 0.44, facecolor="#d5dbdb", edgecolor="#879596"))
            ax.text(cx + 0.65, cy, name, fontsize=8, va="center", color="#16191f")
        return
    # The plot area: axes and a faint grid, then one legend line per metric.
    left, top, right, bottom = x + 0.6, y + 1.1, x + w - 0.4, y + h - 0.4
    rows = props["metrics"]
    plot_bottom = bottom - 0.45 * len(rows) - 0.2
    ax.add_patch(Rectangle((left, top), right - left, plot_bottom - top, facecolor="#fafafa", edgecolor="#d5dbdb"))
    for i in range(1, 4):
        gy = top + i * (plot_bottom - top) / 4
        ax.plot([left, right], [gy, gy], color="#eaeded", linewidth=0.6)
    ax.text((left + right) / 2, (top + plot_bottom) / 2, "drawn from template.yaml: no data",
            fontsize=7, ha="center", va="center", color="#aab7b8")
    for i, row in enumerate(rows):
        ly = plot_bottom + 0.35 + i * 0.45
        colour = PALETTE[i % len(PALETTE)]
        ax.plot([left, left + 0.5], [ly, ly], color=colour, linewidth=2.5)
        ax.text(left + 0.7, ly, metric_label(row), fontsize=7, va="center", color="#16191f")


def main():
    widgets = dashboard_widgets(Stack(ApiType="HTTP"))
    rows = max(w["y"] + w["height"] for w in widgets)
    fig = plt.figure(figsize=(COLUMNS * UNIT, rows * UNIT))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, COLUMNS)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    fig.patch.set_facecolor("#f2f3f3")
    for widget in widgets:
        draw(ax, widget)
    OUT.parent.mkdir(exist_ok=True)
    # Reproducible output: no creation date, fixed ids.
    plt.rcParams["svg.hashsalt"] = "dashboard"
    # Text as text (small, searchable), in the viewer's sans-serif font.
    plt.rcParams["svg.fonttype"] = "none"
    fig.savefig(OUT, metadata={"Date": None}, facecolor=fig.get_facecolor())
    print(f"wrote {OUT.relative_to(ROOT)} ({len(widgets)} widgets)")


if __name__ == "__main__":
    main()

"""Server-side SVG charts: one series of /metrics/<name>/plot-data/ as points on a line."""

from __future__ import annotations

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD = 640, 220, 56, 28, 12


def line_chart(series: dict) -> dict:
    """Coordinates for one plot-data series (values by date, oldest first)."""
    values = series["values"]
    column = series["column"]
    top = max([v["value"] for v in values] + [0]) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD, HEIGHT - PAD_BOTTOM - PAD
    step = plot_w / max(len(values) - 1, 1)
    points = [
        (round(PAD_LEFT + i * step, 1), round(PAD + plot_h - v["value"] / top * plot_h, 1), v["date"], v["value"])
        for i, v in enumerate(values)
    ]
    ticks = [(round(PAD + plot_h - f * plot_h, 1), round(top * f, 2)) for f in (0, 0.5, 1)]
    return {
        "title": column["title"],
        "units": column["units"],
        "width": WIDTH,
        "height": HEIGHT,
        "points": points,
        "path": " ".join(f"{x},{y}" for x, y, _d, _v in points),
        "ticks": ticks,
        "left": PAD_LEFT,
        "right": WIDTH - PAD,
        "bottom": PAD + plot_h,
    }

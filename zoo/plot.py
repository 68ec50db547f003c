"""Training curves from a run's `metrics.jsonl`, drawn to a PNG.

Three panels: training losses, validation metrics and learning rates, each
against the step. Drawn with Pillow (already a dependency through
torchvision), so plotting needs nothing more installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from zoo.errors import ZooError

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
WIDTH, PANEL_H, MARGIN = 900, 300, 60
SKIP = {"step", "split", "time", "steps_per_s"}


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise ZooError(f"{run_dir} has no metrics.jsonl", "give a run directory written by `zoo train`")
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    if not records:
        raise ZooError(f"{path} holds no records yet")
    return records


def series(records: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{panel: {name: [(step, value)]}} for the three panels."""
    panels: dict[str, dict[str, list[tuple[float, float]]]] = {"training": {}, "validation": {}, "learning rate": {}}
    for r in records:
        for key, value in r.items():
            if key in SKIP or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if not math.isfinite(value):
                continue
            if r.get("split") == "train":
                panel = "learning rate" if key.startswith("lr_") else "training"
            else:
                panel = "validation"
            panels[panel].setdefault(key, []).append((float(r["step"]), float(value)))
    return {k: v for k, v in panels.items() if v}


def plot_run(run_dir: Path, out: Path | None = None) -> Path:
    """Draw the curves of `run_dir` to `out` (default: <run_dir>/curves.png)."""
    from PIL import Image, ImageDraw

    panels = series(read_metrics(run_dir))
    if not panels:
        raise ZooError(f"{run_dir}/metrics.jsonl has no numeric values to plot")
    image = Image.new("RGB", (WIDTH, PANEL_H * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    for i, (title, lines) in enumerate(panels.items()):
        _panel(draw, (0, i * PANEL_H), title, lines)
    out = Path(out) if out else Path(run_dir) / "curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return out


def _panel(draw, origin, title, lines) -> None:
    ox, oy = origin
    left, right, top, bottom = ox + MARGIN + 10, ox + WIDTH - 180, oy + 30, oy + PANEL_H - 35
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(x, y):
        return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

    draw.text((left, oy + 8), title, fill="black")
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    for k in range(5):  # ticks
        fy = y0 + (y1 - y0) * k / 4
        _, py = px(x0, fy)
        draw.line([left - 4, py, left, py], fill="black")
        draw.text((ox + 4, py - 6), f"{fy:.3g}", fill="black")
        fx = x0 + (x1 - x0) * k / 4
        qx, _ = px(fx, y0)
        draw.line([qx, bottom, qx, bottom + 4], fill="black")
        draw.text((qx - 12, bottom + 8), f"{fx:.5g}", fill="black")
    draw.text(((left + right) / 2 - 10, bottom + 20), "step", fill="black")
    for j, (name, pts) in enumerate(sorted(lines.items())):
        colour = COLOURS[j % len(COLOURS)]
        coords = [px(x, y) for x, y in pts]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=2)
        for cx, cy in coords if len(coords) < 30 else coords[-1:]:
            draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=colour)
        ly = top + 4 + 16 * j
        draw.line([right + 10, ly + 6, right + 30, ly + 6], fill=colour, width=3)
        draw.text((right + 36, ly), name[:22], fill="black")

"""Reproduce a method's thesis numbers: train, evaluate, compare.

`reproduce(method, preset=...)` trains with a named preset, evaluates on the
test split and lines our metrics up against the thesis's (`results.toml`
next to the method). The same table is written to the run directory as
`reproduce.md` and `reproduce.json`.

When the run's data set is not one the thesis reports on (the embedded demo
data), the table shows the thesis's rows for its own data sets next to ours,
and says so: the numbers are then a sanity check, not a reproduction.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo import checkpoint as ckpt
from zoo.plugin_manager import PluginManager, get_plugin_manager


@dataclass
class Row:
    metric: str
    thesis_data: str
    thesis: float | None
    ours: float | None
    where: str = ""
    note: str = ""

    @property
    def difference(self) -> float | None:
        if self.thesis is None or self.ours is None:
            return None
        return self.ours - self.thesis


@dataclass
class Report:
    method: str
    data: str
    preset: str
    split: str
    run_dir: str
    metrics: dict[str, float]
    rows: list[Row]
    same_data: bool
    seconds: float
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.method} on {self.data} ({self.split} split), preset {self.preset}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["title"] = self.title
        for row, data in zip(self.rows, out["rows"]):
            data["difference"] = row.difference
        return out

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.error:
            return "\n".join(lines + [f"Failed: {self.error}", ""])
        if not self.same_data:
            lines += [
                f"The thesis reports no number on {self.data}; its rows below are on the data sets named, "
                "shown for scale only.",
                "",
            ]
        lines += ["| metric | thesis data | thesis | ours | difference | where |", "|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(
                f"| {r.metric} | {r.thesis_data} | {_fmt(r.thesis)} | {_fmt(r.ours)} | "
                f"{_fmt(r.difference, signed=True) if self.same_data else '-'} | {r.where} |"
            )
        shown = {r.metric for r in self.rows}
        rest = {k: v for k, v in self.metrics.items() if k not in shown}
        if rest:
            lines += ["", "Other metrics: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in rest.items())]
        lines += ["", f"Run directory: `{self.run_dir}` ({self.seconds:.0f} s)", ""]
        return "\n".join(lines)


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:+.4g}" if signed else f"{value:.4g}"
    return text


def compare(method_cls, data: str, metrics: dict[str, float], split: str = "test") -> tuple[list[Row], bool]:
    """Rows of thesis-vs-ours for `data`; all thesis rows when none is on `data`."""
    results = method_cls.results()
    same = [r for r in results if r.data == data and r.split == split] or [r for r in results if r.data == data]
    chosen = same or results
    rows = [
        Row(
            metric=r.metric,
            thesis_data=r.data,
            thesis=r.value,
            ours=metrics.get(r.metric),
            where=r.where,
            note=r.note,
        )
        for r in chosen
    ]
    if not rows:
        rows = [Row(k, data, None, v) for k, v in metrics.items()]
    return rows, bool(same)


def reproduce(
    method: str,
    *,
    preset: str = "quick",
    data: str | None = None,
    device: str = "auto",
    steps: int | None = None,
    out: str | Path | None = None,
    data_root: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
    manager: PluginManager | None = None,
    **train_options: Any,
) -> Report:
    """Train `method` with `preset`, evaluate on the test split, compare."""
    from zoo import api

    pm = manager or get_plugin_manager()
    cls = pm.method(method)
    data = data or cls.default_dataset
    start = time.perf_counter()
    model = api.train(
        method, data=data, preset=preset, device=device, steps=steps, out=out, data_root=data_root,
        seed=seed, progress=progress, manager=pm, **train_options,
    )
    split = "test" if "test" in pm.dataset(data).splits else "val"
    metrics = model.evaluate(data, split=split, data_root=data_root)
    rows, same = compare(cls, data, metrics, split)
    report = Report(
        method=method,
        data=data,
        preset=preset,
        split=split,
        run_dir=str(model.run_dir),
        metrics=metrics,
        rows=rows,
        same_data=same,
        seconds=time.perf_counter() - start,
    )
    write_report(report, Path(model.run_dir))
    # the model card of the run now carries the test metrics next to the thesis's
    model.info["metrics"] = {**(model.info.get("metrics") or {}), **{f"test_{k}": v for k, v in metrics.items()}}
    model.info["reproduce"] = report.to_json()
    model.method.export(model.module, Path(model.run_dir), data=data, step=model.info.get("step"),
                        metrics=model.info["metrics"], preset=preset)
    return report


def write_report(report: Report, folder: Path) -> None:
    ckpt.write_text_atomic(folder / "reproduce.md", report.to_markdown())
    ckpt.write_json_atomic(folder / "reproduce.json", report.to_json())


def summary_markdown(reports: list[Report], most: int = 4) -> str:
    """One row per method for `zoo reproduce --all`, as the README shows it:
    up to `most` of our test metrics (those the thesis reports first) and,
    for each, the thesis's first number with its data set and table. The
    full comparison of each method is its run's `reproduce.md`."""
    lines = [
        "| method | data, preset | ours (test split) | thesis (its data set, where) | time |",
        "|---|---|---|---|---|",
    ]
    for rep in reports:
        if rep.error:
            lines.append(f"| {rep.method} | {rep.data}, {rep.preset} | failed: {rep.error} | | |")
            continue
        names = [r.metric for r in rep.rows if r.ours is not None]
        names = list(dict.fromkeys(names or list(rep.metrics)))[:most]
        ours = ", ".join(f"{k} {_fmt(rep.metrics.get(k))}" for k in names)
        groups: dict[str, list[str]] = {}  # "(data set, table)" -> "metric value" in order
        for k in names:
            row = next((r for r in rep.rows if r.metric == k and r.thesis is not None), None)
            if row is not None:
                where = ", ".join(x for x in (row.thesis_data, row.where) if x)
                groups.setdefault(where, []).append(f"{k} {_fmt(row.thesis)}")
        thesis = "; ".join(f"{', '.join(values)} ({where})" for where, values in groups.items())
        lines.append(f"| {rep.method} | {rep.data}, {rep.preset} | {ours} | {thesis or '-'} | "
                     f"{rep.seconds:.0f} s |")
    return "\n".join(lines) + "\n"


def load_reports(path: Path) -> list[Report]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    reports = []
    for item in data:
        rows = [Row(**{k: v for k, v in r.items() if k != "difference"}) for r in item.pop("rows")]
        item.pop("title", None)
        reports.append(Report(rows=rows, **item))
    return reports


README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"
WEIGHTS_START = "<!-- weights:start -->"
WEIGHTS_END = "<!-- weights:end -->"


def weights_markdown(registry=None) -> str:
    """The registry's pretrained weights as a Markdown table: name, method,
    data, the metrics measured when they were registered, and what they are."""
    from zoo.registry import load_registry

    registry = registry or load_registry()
    lines = ["| weights | method | data | metrics | what |", "|---|---|---|---|---|"]
    for w in sorted(registry.weights.values(), key=lambda w: (w.method, w.name)):
        metrics = ", ".join(f"{k} {_fmt(float(v))}" for k, v in w.metrics.items())
        where = "shipped" if w.bundled else f"`hf://{w.repo}`"
        lines.append(f"| `{w.name}` ({where}) | {w.method} | {w.data} | {metrics or '-'} | {w.description} |")
    return "\n".join(lines) + "\n"


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + body + end + tail


def _with_weights_table(text: str) -> str:
    """`text` with the table between the weights markers (if it has them)
    rewritten from `registry.toml`."""
    if WEIGHTS_START not in text or WEIGHTS_END not in text:
        return text
    return _replace_between(text, WEIGHTS_START, WEIGHTS_END, "\n" + weights_markdown())


def refresh_weights_table(readme: Path) -> bool:
    """Rewrite the README's weights table from `registry.toml`; False when
    the README has no weights markers."""
    text = Path(readme).read_text(encoding="utf-8")
    new = _with_weights_table(text)
    if new is text:
        return False
    ckpt.write_text_atomic(Path(readme), new)
    return True


def update_readme(readme: Path, reports: list[Report], command: str) -> None:
    """Replace the README's results section (between the two markers) with
    the summary table of `reports`, so it never shows numbers nobody ran,
    and its weights table (when it has one) with the registry's."""
    text = Path(readme).read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        from zoo.errors import ZooError

        raise ZooError(f"{readme} has no results section", f"add the lines {README_START} and {README_END}")
    stamp = time.strftime("%Y-%m-%d")
    body = f"\nGenerated by `{command}` on {stamp}.\n\n" + summary_markdown(reports) + "\n"
    text = _replace_between(text, README_START, README_END, body)
    ckpt.write_text_atomic(Path(readme), _with_weights_table(text))

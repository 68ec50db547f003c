"""distfit-toy: the data of App. D, Simpson integration, the Parzen window,
KL / JS / Sinkhorn-EMD against references, the exact ML fit, the grid search
and its qualitative outcome, `zoo distfit-toy fit` and the shipped fit.
(Training, checkpoint round-trip and export run in the conformance kit.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.data.parabola import sample_parabola
from zoo.errors import ConfigError
from zoo.method import make_config
from zoo.plugins.distfit_toy import objectives as obj
from zoo.plugins.distfit_toy.method import DistFitToy, Problem, coarse_grid, fine_grid
from zoo.plugins.distfit_toy.model import OBJECTIVES, RotatedRectangle


def test_parabola_sample_has_the_right_marginals():
    x = sample_parabola(200_000, torch.Generator().manual_seed(0))
    assert x.shape == (200_000, 2) and x.abs().max() <= 1
    assert abs(float(x.mean())) < 0.005
    assert float(x.var(0).max() - 0.2) < 0.003 and float(0.2 - x.var(0).min()) < 0.003  # E[t^2] = 1/5
    assert abs(float(torch.corrcoef(x.T)[0, 1])) < 0.01  # independent coordinates


def test_simpson_integrates_the_density_exactly():
    for grid in (16, 32, 64):
        nodes, w = obj.grid_nodes(grid), obj.simpson_weights(grid)
        assert float(w.sum()) == pytest.approx(16.0)  # the area of [-2, 2]^2
        assert float((w * obj.parabola_density(nodes)).sum()) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError):
        obj.simpson_weights(15)


def test_parzen_window_is_a_density_with_finite_support():
    nodes, w = obj.grid_nodes(64), obj.simpson_weights(64)
    points = torch.tensor([[0.0, 0.0], [0.5, -0.5]], dtype=torch.float64)
    p = obj.epanechnikov_kde(points, nodes, 0.3, w)
    assert float((w * p).sum()) == pytest.approx(1.0)
    far = torch.cdist(nodes, points).min(1).values >= 0.3
    assert float(p[far].abs().max()) == 0.0 and float(p.max()) > 0


def test_kl_and_js():
    nodes, w = obj.grid_nodes(32), obj.simpson_weights(32)
    p = obj.parabola_density(nodes)
    rect = RotatedRectangle()
    params = torch.tensor([[2.5, 2.5, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    q = obj.rectangle_densities(params, nodes, w)
    assert float((w * q[0]).sum()) == pytest.approx(1.0)
    kl = obj.kl_divergence(p, q, w)
    assert math.isfinite(float(kl[0])) and math.isinf(float(kl[1]))  # the small square misses data
    assert float(obj.kl_divergence(p, p[None], w)[0]) == pytest.approx(0.0, abs=1e-12)
    js = obj.js_divergence(p, q, w)
    assert (js >= 0).all() and (js <= math.log(2) + 1e-9).all()
    shifted = obj.rectangle_densities(params[2:3], nodes + 1.5, w)  # a square far from another
    far = obj.rectangle_densities(params[2:3], nodes, w)
    assert float(obj.js_divergence(far[0], shifted, w)[0]) == pytest.approx(math.log(2), rel=1e-6)
    assert float(obj.js_divergence(q[0], q[2:3], w)[0]) == pytest.approx(float(obj.js_divergence(q[2], q[0:1], w)[0]))
    assert rect(torch.tensor([[2.1, 0.6, math.pi / 2]], dtype=torch.float64), nodes).equal(  # edges off the nodes
        rect(torch.tensor([[0.6, 2.1, 0.0]], dtype=torch.float64), nodes))


def test_sinkhorn_matches_the_exact_emd_in_one_dimension():
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(0)
    a_pos, b_pos = np.linspace(-1, 1, 15), np.linspace(-0.5, 1.5, 12)
    a_w, b_w = rng.random(15), rng.random(12)
    a_w, b_w = a_w / a_w.sum(), b_w / b_w.sum()
    a_pts = torch.tensor(np.stack([a_pos, np.zeros(15)], 1))
    b_pts = torch.tensor(np.stack([b_pos, np.zeros(12)], 1))
    cost = obj.ground_cost(a_pts, b_pts)
    ours = obj.sinkhorn_cost(torch.tensor(a_w), torch.tensor(b_w)[None], cost, eps=0.01, iterations=3000)
    assert float(ours[0]) == pytest.approx(wasserstein_distance(a_pos, b_pos, a_w, b_w), abs=0.01)
    point = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    moved = obj.sinkhorn_cost(torch.ones(1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
                              obj.ground_cost(point, point + torch.tensor([[0.3, 0.4]])), 0.05, 10)
    assert float(moved[0]) == pytest.approx(0.5)  # one unit of mass moved by 0.5


def test_maximum_likelihood_is_the_smallest_covering_rectangle():
    points = torch.tensor([[0.9, 0.4], [-0.9, -0.4], [0.2, 0.1], [0.5, -0.3]], dtype=torch.float64)
    thetas = torch.deg2rad(torch.arange(0, 90, 0.5, dtype=torch.float64))
    fit, log_area = obj.ml_fit(points, thetas)
    inside = RotatedRectangle()(fit[None], points)
    assert bool(inside.all())  # every point covered
    for t in thetas:  # no covering rectangle at another angle is smaller
        c, s = math.cos(t), math.sin(t)
        u, v = points[:, 0] * c + points[:, 1] * s, -points[:, 0] * s + points[:, 1] * c
        assert math.log(float(4 * u.abs().max() * v.abs().max())) >= log_area - 1e-12


def _fit(**changes):
    method = DistFitToy(make_config(DistFitToy, overrides={
        "grid": 16, "side_min": 1.0, "side_max": 3.0, "side_step": 0.5, "angle_step": 15.0, "iterations": 60,
        "points": 400, "batch_size": 400, "steps": 4, **changes}))
    model = method.build()

    class StepStub:
        index = 0

    step = StepStub()
    points = sample_parabola(400, torch.Generator().manual_seed(0))
    for i in range(method.config.steps):
        step.index = i
        logs = method.train_step(model, {"point": points}, step)
    return method, model, logs


def test_grid_search_outcome_follows_the_thesis():
    method, model, logs = _fit()
    assert set(logs) == {"ml", "emd_points", "kl", "js", "emd"} and all(math.isfinite(float(v)) for v in logs.values())
    test = type("Points", (), {"points": sample_parabola(2000, torch.Generator().manual_seed(1))})()
    m = method.evaluate(model, test)
    # KL and ML stretch the rectangle to cover the data; JS shrinks it and drops some (App. D.3)
    assert m["kl_uncovered"] == 0 and m["ml_uncovered"] < 0.01
    assert m["kl_area"] >= m["ml_area"] >= m["js_area"] and m["js_uncovered"] > 0
    assert m["emd_area"] < m["kl_area"]
    assert all(0 <= m[f"{k}_angle_error"] <= 45 for k in ("ml", "kl", "js", "emd", "emd_points"))


def test_search_grids():
    c = make_config(DistFitToy)
    coarse = coarse_grid(c)
    assert coarse.shape == (20 * 20 * 18, 3)  # sides 0.2..4.0 by 0.2, angles 0..85 by 5 degrees
    fine = fine_grid(c, torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64))
    assert fine.shape == (729, 3) and float(fine[:, 0].min()) == pytest.approx(0.8)


def test_bad_configs_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown objective"):
        DistFitToy(make_config(DistFitToy, overrides={"objectives": ("kl", "hellinger")})).build()
    with pytest.raises(ConfigError, match="even number"):
        DistFitToy(make_config(DistFitToy, overrides={"grid": 33})).build()
    with pytest.raises(ConfigError, match="underflows"):
        DistFitToy(make_config(DistFitToy, overrides={"eps": 0.001})).build()
    method = DistFitToy(make_config(DistFitToy, overrides={"points": 100, "batch_size": 50}))
    with pytest.raises(ConfigError, match="whole sample"):
        method.train_step(method.build(), {"point": torch.zeros(50, 2)}, type("S", (), {"index": 0})())


def test_sample_and_problem_shapes():
    method, model, _ = _fit(objectives=("kl", "emd"))
    picture = method.sample(model, 30, size=40)
    assert picture.shape == (1, 3, 40, 2 * 40 + 4) and 0 <= picture.min() and picture.max() <= 1
    problem = Problem(sample_parabola(100, torch.Generator().manual_seed(0)), method.config)
    values = problem.score("emd-points", coarse_grid(method.config)[:7])
    assert values.shape == (7,)
    assert OBJECTIVES == ("ml", "emd-points", "kl", "js", "emd")


def test_fit_command_prints_the_table_and_writes_the_plot(cli, tmp_path):
    out = cli("distfit-toy", "fit", "--set", "grid=16", "--set", "side_step=0.5", "--set", "angle_step=30.0",
              "--set", "iterations=30", "--set", "steps=2", "--out", tmp_path / "fit.png", "--run", tmp_path / "run")
    assert out.exit_code == 0, out.output
    assert "Fits of the uniform" in out.output and any("│" in l and " kl " in l for l in out.output.splitlines())
    from PIL import Image

    with Image.open(tmp_path / "fit.png") as img:
        assert img.size[1] == 160 and img.size[0] > 5 * 160
    bad = cli("distfit-toy", "fit", "--set", "objectives=['nope']", "--out", tmp_path / "x.png")
    assert bad.exit_code == 2 and "unknown objective" in bad.output


def test_shipped_fit_matches_its_golden_picture():
    from zoo.testing import check_golden

    check_golden("distfit-toy.parabola")


def test_readme_commands_run_as_written(cli, tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "plugins" / "distfit_toy" / "README.md").read_text(encoding="utf-8")
    ran = 0
    for line in readme.splitlines():
        if line.startswith(("zoo sample distfit-toy", "zoo evaluate distfit-toy")):
            result = cli(*line.split("#")[0].split()[1:])
            assert result.exit_code == 0, result.output
            ran += 1
    assert ran == 2

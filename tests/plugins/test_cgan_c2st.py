"""CGAN-C2ST: the batched CGANs of the released script, the losses of Eq. 5.8
with its smoothed targets, per-model budgets, the decision rule, the
benchmark protocol, `zoo cgan-c2st predict` and the shipped weights.
(Training, checkpoint round-trip and export run in the conformance kit.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo.data.cause_effect import load_cause_effect_synth, prepare_pair
from zoo.method import make_config
from zoo.plugins.cgan_c2st.method import CGANC2ST
from zoo.plugins.cgan_c2st.model import BatchedLinear, CGANBank
from zoo.plugins.cgan_c2st.protocol import (
    FitOptions,
    MaskedAdam,
    accuracy,
    arrange,
    discriminator_loss,
    fit_bank,
    generator_loss,
    infer_directions,
    statistic,
)


def test_batched_layers_are_independent_linear_maps():
    layer = BatchedLinear(3, 4, 5)
    x = torch.randn(3, 7, 4)
    out = layer(x)
    assert out.shape == (3, 7, 5)
    for m in range(3):
        assert torch.allclose(out[m], x[m] @ layer.weight[m] + layer.bias[m], atol=1e-6)


def test_bank_shapes_follow_the_released_script():
    bank = CGANBank(models=4, dz=10, hidden=128, dropout=0.25)
    assert bank.generator.fc1.weight.shape == (4, 11, 128) and bank.generator.fc2.weight.shape == (4, 128, 1)
    assert bank.discriminator.fc1.weight.shape == (4, 2, 128)
    c = torch.randn(4, 9, 1)
    assert bank(c).shape == (4, 9, 1)
    assert bank.discriminator(c, c).shape == (4, 9)


def test_losses_use_smoothed_targets():
    torch.manual_seed(0)
    bank = CGANBank(2).eval()
    c, t, fake = torch.randn(2, 6, 1), torch.randn(2, 6, 1), torch.randn(2, 6, 1)
    valid = torch.ones(2, 6)
    d_real, d_fake = bank.discriminator(c, t), bank.discriminator(c, fake)
    bce = lambda logits, target: F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, target))  # noqa: E731
    expected = torch.stack([0.5 * (bce(d_real[m], 0.8) + bce(d_fake[m], 0.2)) for m in range(2)])
    assert torch.allclose(discriminator_loss(bank, c, t, fake, valid), expected, atol=1e-5)
    assert torch.allclose(generator_loss(bank, c, fake, valid), torch.stack([bce(d_fake[m], 0.8) for m in range(2)]),
                          atol=1e-5)
    half = torch.tensor([[1.0] * 3 + [0.0] * 3] * 2)  # padding does not count
    assert torch.allclose(generator_loss(bank, c[:, :3], fake[:, :3], torch.ones(2, 3)),
                          generator_loss(bank, c, fake, half), atol=1e-6)


def test_masked_adam_moves_only_active_models():
    p = torch.nn.Parameter(torch.zeros(3, 2))
    opt = MaskedAdam([p], lr=0.1, betas=(0.5, 0.999))
    p.grad = torch.ones(3, 2)
    opt.step(torch.tensor([1.0, 0.0, 1.0]))
    assert torch.allclose(p[0], torch.full((2,), -0.1), atol=1e-6) and torch.equal(p[1], torch.zeros(2))
    assert opt.t.tolist() == [1.0, 0.0, 1.0]


def test_fit_bank_learns_a_conditional_and_respects_budgets():
    torch.manual_seed(0)
    n = 200
    x = torch.randn(n, 1)
    y = 2 * x + 0.3 * torch.randn(n, 1)
    pairs = [torch.cat([x, y], 1), torch.cat([x[:50], y[:50]], 1)]
    cond, target, counts = arrange(pairs, reps=1)
    assert cond.shape == (4, n, 1) and counts.tolist() == [n, n, 50, 50]
    assert torch.equal(cond[1, :n], y) and torch.equal(target[1, :n], x)  # the Y -> X CGAN of pair 0
    bank = fit_bank(cond, target, counts, FitOptions(epochs=40), torch.Generator().manual_seed(0))
    with torch.no_grad():
        gen = bank(torch.linspace(-1, 1, 5)[None, :, None].expand(4, -1, -1))
    slope = (gen[0, -1, 0] - gen[0, 0, 0]) / 2
    assert 1.0 < float(slope) < 3.0  # the X -> Y generator follows y = 2x


def test_decision_rule_and_accuracy():
    c_xy, c_yx = torch.tensor([0.1, 0.3, 0.2]), torch.tensor([0.2, 0.1, 0.25])
    acc, weighted = accuracy(c_xy, c_yx, [0, 1, 1], [1.0, 1.0, 2.0])  # predicts 0, 1, 0
    assert acc == pytest.approx(2 / 3) and weighted == pytest.approx(2 / 4)
    from zoo.metrics.two_sample import TwoSampleResult

    results = [TwoSampleResult("c2st-knn", 0.7, 0.0, 0.05, 10), TwoSampleResult("c2st-knn", 0.4, 0.0, 0.05, 10)]
    assert statistic(results, "c2st-knn").tolist() == pytest.approx([0.2, 0.1])


def test_protocol_finds_the_direction_of_a_non_injective_mechanism():
    """y = x^2 + noise: Y given X is a curve, X given Y two branches; the
    CGAN in the causal direction fits better and the rule picks it."""
    rng = np.random.default_rng(0)
    pairs, labels = [], []
    for k in range(4):
        x = rng.standard_normal(400)
        xy = np.stack([x, x**2 + 0.1 * rng.standard_normal(400)], 1)
        pairs.append(prepare_pair(xy if k % 2 == 0 else xy[:, ::-1].copy(), rng))
        labels.append(k % 2)
    c_xy, c_yx = infer_directions(pairs, reps=1, test="knn", opts=FitOptions(epochs=40), seed=0)
    assert accuracy(c_xy, c_yx, labels)[0] == 1.0


def test_evaluate_on_a_benchmark_and_on_the_trained_pair():
    torch.manual_seed(0)
    method = CGANC2ST(make_config(CGANC2ST, preset="quick", overrides={"reps": 2}))
    model = method.build()
    bench = load_cause_effect_synth(None, "test", pairs=3)
    metrics = method.evaluate(model, bench, epochs=2, test="mmd")
    assert metrics["pairs"] == 3 and 0 <= metrics["accuracy"] <= 1
    assert "accuracy_mmd_ensemble" in metrics and any(k in metrics for k in
                                                      ("accuracy_additive", "accuracy_heteroskedastic", "accuracy_post-nonlinear"))
    one = method.evaluate(model, load_cause_effect_synth(None, "val", pair=0))
    assert set(one) == {"c2st_xy", "c2st_yx", "correct"}


def test_sample_draws_both_conditionals():
    method = CGANC2ST()
    picture = method.sample(method.build(), 100, size=48)
    assert picture.shape == (1, 3, 48, 2 * 48 + 4) and 0 <= picture.min() and picture.max() <= 1


def test_predict_command(cli, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300)
    y = x**2 + 0.1 * rng.standard_normal(300)
    (tmp_path / "pair0001.txt").write_text("\n".join(f"{a:.5f}   {b:.5f}" for a, b in zip(x, y)) + "\n")
    out = cli("cgan-c2st", "predict", tmp_path / "pair0001.txt", "--epochs", "40")
    assert out.exit_code == 0, out.output
    assert "X -> Y" in out.output and "C2ST statistic" in out.output
    np.save(tmp_path / "swapped.npy", np.stack([y, x], 1))
    swapped = cli("cgan-c2st", "predict", tmp_path / "swapped.npy", "--epochs", "40")
    assert swapped.exit_code == 0 and "Y -> X" in swapped.output
    (tmp_path / "bad.txt").write_text("1 2 3\n4 5 6\n")
    bad = cli("cgan-c2st", "predict", tmp_path / "bad.txt")
    assert bad.exit_code == 2 and "two numeric columns" in bad.output
    np.save(tmp_path / "nan.npy", np.full((20, 2), np.nan))
    assert "NaN" in cli("cgan-c2st", "predict", tmp_path / "nan.npy").output
    assert "does not exist" in cli("cgan-c2st", "predict", tmp_path / "none.txt").output


def test_shipped_weights_match_their_golden_samples():
    from zoo.testing import check_golden

    check_golden("cgan-c2st.synth-pair0")


def test_readme_sample_command_runs_as_written(cli, tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "plugins" / "cgan_c2st" / "README.md").read_text(encoding="utf-8")
    line = next(l for l in readme.splitlines() if l.startswith("zoo sample cgan-c2st"))
    result = cli(*line.split("#")[0].split()[1:])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "samples").glob("cgan-c2st-*.png"))

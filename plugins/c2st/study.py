"""Monte-Carlo type-I error and power of the two-sample tests (ICLR 2017 §4.1).

Each setting draws `reps` independent pairs of samples, runs every test on
each (the R repetitions train as one batched model) and reports the rejection
rate at alpha: the type-I error on the null problem, the power on the
Gaussian-vs-Student and sinusoid problems (power = 1 - type-II error, the
quantity the paper's Fig. 3 plots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from zoo.data.two_sample import null_problem, sinusoid_problem, student_problem
from zoo.errors import ConfigError
from zoo.metrics.two_sample import resolve_test, two_sample_tests_many

SHORT = {"c2st-nn": "nn", "c2st-knn": "knn", "mmd": "mmd"}


@dataclass(frozen=True)
class Setting:
    problem: str          # "type1", "student" or "sinusoid"
    n: int                # points per sample
    nu: float = 3.0       # Student's t degrees of freedom
    delta: float = 1.0    # sinusoid frequency
    gamma: float = 0.25   # sinusoid noise std

    def key(self, test: str) -> str:
        short = SHORT[test]
        if self.problem == "type1":
            return f"type1_{short}_n{self.n}"
        if self.problem == "student":
            return f"student_{short}_n{self.n}_nu{self.nu:g}"
        return f"sinusoid_{short}_n{self.n}_d{self.delta:g}_g{self.gamma:g}"

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.problem == "type1":
            return null_problem(self.n, rng)
        if self.problem == "student":
            return student_problem(self.n, self.nu, rng)
        return sinusoid_problem(self.n, self.delta, self.gamma, rng)


# The defaults of the paper (n = 2000, nu = 3, delta = 1, gamma = 0.25) and a
# smaller n for each problem.
KEY_GRID = (
    Setting("type1", 100), Setting("type1", 2000),
    Setting("student", 500), Setting("student", 2000), Setting("student", 2000, nu=10),
    Setting("sinusoid", 500), Setting("sinusoid", 2000),
)
# The grids of the released experiment script.
FULL_GRID = (
    *(Setting("type1", n) for n in (50, 100, 500, 1000, 2000)),
    *(Setting("student", n) for n in (50, 100, 500, 1000, 2000)),
    *(Setting("student", 2000, nu=nu) for nu in (1, 2, 5, 10, 15, 20)),
    *(Setting("sinusoid", n) for n in (50, 100, 500, 1000, 2000)),
    *(Setting("sinusoid", 2000, delta=f) for f in (2, 4, 6, 8, 10, 20)),
    *(Setting("sinusoid", 2000, gamma=v) for v in (0.1, 0.25, 0.5, 1, 2, 3)),
)
SMOKE_GRID = (Setting("type1", 50), Setting("student", 50), Setting("sinusoid", 50))
GRIDS = {"key": KEY_GRID, "full": FULL_GRID, "smoke": SMOKE_GRID}


def parse_tests(text: str) -> list[str]:
    tests = [resolve_test(t) for t in text.split(",") if t.strip()]
    if not tests:
        raise ConfigError("no two-sample test named", "use e.g. --tests nn,knn,mmd")
    return list(dict.fromkeys(tests))


def rejection_rates(settings, tests: list[str], reps: int, alpha: float = 0.05, seed: int = 0,
                    epochs: int = 100, device: str | None = None) -> dict[str, float]:
    """{setting key: fraction of the `reps` draws whose test rejects H0}."""
    if reps < 1:
        raise ConfigError(f"reps must be at least 1, got {reps}")
    out: dict[str, float] = {}
    for i, setting in enumerate(settings):
        rng = np.random.default_rng([seed, i])
        draws = [setting.draw(rng) for _ in range(reps)]
        xs = torch.from_numpy(np.stack([p for p, _ in draws])).float()  # (R, n, d)
        ys = torch.from_numpy(np.stack([q for _, q in draws])).float()
        for test in tests:
            results = two_sample_tests_many(xs, ys, test, alpha=alpha, seed=seed + i, epochs=epochs, device=device)
            out[setting.key(test)] = float(np.mean([r.reject for r in results]))
    return out

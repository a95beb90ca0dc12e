"""Distribution distances between feature sets: FID (Frechet distance) and KID (kernel MMD).

Statistics are accumulated batch by batch in float64 on the features' device, so FID never needs
all features at once; KID keeps the features (one row per image) because it compares samples.
"""
import math
from typing import Dict, Optional

import torch


class FeatureStats:
    """Streaming mean and covariance of (N, D) feature batches, merged with Chan's parallel formula.

    `update(features)` adds a batch; `mean` (D,) and `covariance()` (D, D, unbiased, like np.cov)
    are float64 on the device of the first batch. With `keep_features` the rows are also kept
    (on the CPU, float32) for KID.
    """

    def __init__(self, keep_features: bool = True):
        self.count = 0
        self.mean: Optional[torch.Tensor] = None
        self._m2: Optional[torch.Tensor] = None   # sum of outer products of deviations from the mean
        self.keep_features = keep_features
        self._rows = []

    def update(self, features: torch.Tensor) -> None:
        """Add a batch of features (N, D)."""
        x = features.detach().flatten(1).double()
        n = x.shape[0]
        if n == 0:
            return
        batch_mean = x.mean(0)
        centred = x - batch_mean
        batch_m2 = centred.T @ centred
        if self.count == 0:
            self.mean, self._m2 = batch_mean, batch_m2
        else:
            total = self.count + n
            delta = batch_mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self._m2 = self._m2 + batch_m2 + torch.outer(delta, delta) * (self.count * n / total)
        self.count += n
        if self.keep_features:
            self._rows.append(features.detach().flatten(1).float().cpu())

    def covariance(self) -> torch.Tensor:
        """Unbiased covariance (D, D) in float64; needs at least two samples."""
        if self.count < 2:
            raise ValueError("a covariance needs at least two samples")
        return self._m2 / (self.count - 1)

    def features(self) -> torch.Tensor:
        """All kept feature rows (N, D), float32 on the CPU."""
        if not self.keep_features:
            raise ValueError("features were not kept (keep_features=False)")
        return torch.cat(self._rows) if self._rows else torch.empty(0, 0)


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite (D, D) matrix by eigen-decomposition.

    Tiny negative eigenvalues from rounding are clamped to 0. Returns (D, D), same dtype.
    """
    symmetric = (matrix + matrix.T) / 2
    values, vectors = torch.linalg.eigh(symmetric)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr((sigma1 @ sigma2)^(1/2)) for covariance matrices, computed stably in float64.

    sigma1 @ sigma2 is not symmetric, but it is similar to S = sigma1^(1/2) sigma2 sigma1^(1/2),
    which is symmetric PSD, so the trace is the sum of the square roots of S's eigenvalues.
    """
    root1 = sqrtm_psd(sigma1.double())
    inner = root1 @ sigma2.double() @ root1
    values = torch.linalg.eigvalsh((inner + inner.T) / 2)
    return values.clamp(min=0).sqrt().sum()


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):
    |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)). Returns a float >= 0."""
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    distance = (mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sigma2)
    return max(float(distance), 0.0)


def fid(generated: FeatureStats, real: FeatureStats) -> float:
    """FID between two accumulated feature sets (each needs at least two samples)."""
    return frechet_distance(generated.mean, generated.covariance(), real.mean, real.covariance())


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x . y / D + 1)^3 for rows of (N, D) and (M, D); returns (N, M)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased squared MMD with the polynomial kernel between samples (m, D) and (n, D), m, n >= 2."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean())


def kid(generated: torch.Tensor, real: torch.Tensor, subset_size: int = 1000, subsets: int = 100,
        seed: int = 0) -> Dict[str, float]:
    """Kernel Inception Distance of feature rows (N, D) vs (M, D): unbiased MMD^2 averaged over subsets.

    Each of `subsets` draws min(subset_size, N, M) rows from each side without replacement (seeded,
    so repeatable). Returns {'kid': mean, 'kid_std': standard deviation over the subsets}.
    """
    size = min(subset_size, generated.shape[0], real.shape[0])
    if size < 2:
        raise ValueError("KID needs at least two samples on each side")
    rng = torch.Generator().manual_seed(seed)
    x_all, y_all = generated.double(), real.double()
    values = []
    for _ in range(subsets):
        x = x_all[torch.randperm(x_all.shape[0], generator=rng)[:size]]
        y = y_all[torch.randperm(y_all.shape[0], generator=rng)[:size]]
        values.append(mmd2_unbiased(x, y))
    values = torch.stack(values)
    std = float(values.std()) if subsets > 1 else 0.0
    return {"kid": float(values.mean()), "kid_std": std if math.isfinite(std) else 0.0}

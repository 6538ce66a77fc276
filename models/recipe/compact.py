"""Structured recurrent matrices of "Learning Compact Recurrent Neural Networks" (Lu, Sindhwani,
Sainath, ICASSP 2016) and the LSTM stack built from them.

Why this file: the compact variants differ from the dense baseline only in how each layer's
gate-stacked input matrix W_x [4n, m] and recurrent matrix W_h [4n, n] are parameterised; the
LSTM equations (gate order i, f, g, o as PyTorch and `model.LstmLayer`) stay the same.

Structures (each has `weight()`, the dense matrix it stands for, and `forward(x)` = x @ W^T
computed the structured way):
  * `LowRank`        W = U V, U [rows, r], V [r, cols]; applied as (x V^T) U^T.
  * `SharedLowRank`  W = U P with P [r, n] a `Projection` owned by the stack: P_l projects
                     layer l's h_t once per step, and feeds both layer l's recurrent matrix
                     (W_h^l = U_h^l P_l) and layer l+1's input matrix (W_x^(l+1) = U_x^(l+1) P_l);
                     the four gates share P (U stacks them).
                     A shared layer whose input does not come from a shared layer (layer 0, or
                     the first shared layer above Toeplitz-like ones in a hybrid) has an
                     unshared `LowRank` input matrix of the same rank r.
  * `ToeplitzLike`   displacement rank r: each n x n block is M = sum_i Z_1(g_i) Z_-1(h_i)
                     (circulant x skew-circulant, 2 r n parameters), applied by FFT in
                     O(r n log n). A gate-stacked [4n, m] matrix is 4 x k blocks, k = ceil(m/n):
                     the input is zero-padded to k n (for the 4x256 model's 240-value input: one
                     block per gate, 16 zero columns); block (gate, j) maps input chunk j to gate.
                     The input's FFT is computed once and shared by all gates and terms.

Training speed: `CompactLstm.forward` materialises each layer's dense W_x, W_h from the factors
(cheap next to a batch) and runs PyTorch's fused LSTM kernel, so gradients reach the factors at
nearly the dense baseline's speed; `forward_explicit` runs the structured products step by step
(the computation the exported graph does) and tests compare the two.
"""
from __future__ import annotations

import math

import torch
from torch import _VF, nn

# Layer kinds inside a CompactLstm.
LOWRANK, SHARED, TOEPLITZ = "lowrank", "shared", "toeplitz"
ARCHS = ("dense", "lowrank", "shared-lowrank", "toeplitz", "hybrid")


def layer_kinds(arch: str, layers: int, toeplitz_layers: int) -> list[str]:
    """Per-layer structure of a compact architecture (hybrid: Toeplitz-like at the bottom)."""
    if arch == "lowrank":
        return [LOWRANK] * layers
    if arch == "shared-lowrank":
        return [SHARED] * layers
    if arch == "toeplitz":
        return [TOEPLITZ] * layers
    if arch == "hybrid":
        if not 0 < toeplitz_layers < layers:
            raise ValueError(f"hybrid needs 0 < toeplitz_layers < layers, got {toeplitz_layers} of {layers}")
        return [TOEPLITZ] * toeplitz_layers + [SHARED] * (layers - toeplitz_layers)
    raise ValueError(f"unknown compact arch {arch!r}; one of {ARCHS[1:]}")


def _factor_std(bound: float, terms: int) -> float:
    """Std of each factor so that a sum of `terms` factor products has the variance of the dense
    init U(-bound, bound) (bound^2 / 3)."""
    return (bound * bound / 3.0 / terms) ** 0.25


class LowRank(nn.Module):
    """W [rows, cols] = U [rows, r] @ V [r, cols]."""

    def __init__(self, rows: int, cols: int, rank: int, bound: float):
        super().__init__()
        std = _factor_std(bound, rank)
        self.u = nn.Parameter(torch.randn(rows, rank) * std)
        self.v = nn.Parameter(torch.randn(rank, cols) * std)

    def weight(self) -> torch.Tensor:
        return self.u @ self.v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.v.t()) @ self.u.t()


class Projection(nn.Module):
    """P [r, n]: the per-layer projection of h_t that shared low-rank matrices share."""

    def __init__(self, hidden: int, rank: int, bound: float):
        super().__init__()
        self.p = nn.Parameter(torch.randn(rank, hidden) * _factor_std(bound, rank))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.p.t()


class SharedLowRank(nn.Module):
    """W [rows, n] = U [rows, r] @ P [r, n], P owned by the stack (not registered here, so it is
    counted and saved once)."""

    def __init__(self, rows: int, projection: Projection, bound: float):
        super().__init__()
        self.u = nn.Parameter(torch.randn(rows, projection.p.shape[0]) * _factor_std(bound, projection.p.shape[0]))
        object.__setattr__(self, "projection", projection)

    def weight(self) -> torch.Tensor:
        return self.u @ self.projection.p

    def from_projected(self, z: torch.Tensor) -> torch.Tensor:
        """U applied to an already projected z = P h."""
        return z @ self.u.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_projected(self.projection(x))


def half_shift(n: int) -> torch.Tensor:
    """eta^j = exp(i pi j / n): Z_-1(h) x = D^-1 circconv(D h, D x) with D = diag(eta^j)."""
    return torch.polar(torch.ones(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64) * math.pi / n)


class ToeplitzLike(nn.Module):
    """Gate-stacked [row_blocks * n, cols] matrix of n x n blocks M = sum_i Z_1(g_i) Z_-1(h_i).

    g, h: [row_blocks, k, r, n] with k = ceil(cols / n); Z_1(g) is the circulant with first
    column g, Z_-1(h) the skew-circulant with first column h.
    """

    def __init__(self, row_blocks: int, cols: int, n: int, rank: int, bound: float):
        super().__init__()
        self.row_blocks, self.cols, self.n, self.rank = row_blocks, cols, n, rank
        self.k = -(-cols // n)
        std = _factor_std(bound, rank * n)
        self.g = nn.Parameter(torch.randn(row_blocks, self.k, rank, n) * std)
        self.h = nn.Parameter(torch.randn(row_blocks, self.k, rank, n) * std)

    def spectra(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fft(g), fft(D h), eta): what the FFT mat-vec multiplies by."""
        eta = half_shift(self.n).to(torch.complex64)
        return torch.fft.fft(self.g), torch.fft.fft(self.h * eta), eta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., cols] -> x @ W^T [..., row_blocks * n], by FFT."""
        g_hat, h_hat, eta = self.spectra()
        pad = self.k * self.n - self.cols
        if pad:
            x = torch.nn.functional.pad(x, (0, pad))
        xb = x.reshape(*x.shape[:-1], 1, self.k, 1, self.n)
        x_hat = torch.fft.fft(xb * eta)                              # shared by gates and terms
        y = (torch.fft.ifft(h_hat * x_hat) * eta.conj()).real      # Z_-1(h_i) x_j  [..., R, k, r, n]
        out = torch.fft.ifft((g_hat * torch.fft.fft(y)).sum(dim=(-3, -2))).real  # [..., R, n]
        return out.reshape(*out.shape[:-2], self.row_blocks * self.n)

    def weight(self) -> torch.Tensor:
        """The dense [row_blocks * n, cols] matrix (the FFT mat-vec of the identity)."""
        return self.forward(torch.eye(self.cols, device=self.g.device)).t()


class CompactLstm(nn.Module):
    """An LSTM stack whose layers have structured W_x, W_h (kinds from `layer_kinds`)."""

    def __init__(self, input_dim: int, hidden: int, kinds: list[str], rank: int,
                 displacement_rank: int, dropout: float):
        super().__init__()
        self.hidden, self.kinds, self.dropout = hidden, list(kinds), dropout
        n, bound = hidden, hidden ** -0.5
        if any(k in (LOWRANK, SHARED) for k in kinds) and rank < 1:
            raise ValueError("low-rank layers need rank >= 1")
        if TOEPLITZ in kinds and displacement_rank < 1:
            raise ValueError("Toeplitz-like layers need displacement_rank >= 1")
        self.projections = nn.ModuleDict(
            {str(l): Projection(n, rank, bound) for l, k in enumerate(kinds) if k == SHARED})
        self.w_x, self.w_h = nn.ModuleList(), nn.ModuleList()
        for l, kind in enumerate(kinds):
            cols = input_dim if l == 0 else n
            if kind == TOEPLITZ:
                self.w_x.append(ToeplitzLike(4, cols, n, displacement_rank, bound))
                self.w_h.append(ToeplitzLike(4, n, n, displacement_rank, bound))
            elif kind == LOWRANK:
                self.w_x.append(LowRank(4 * n, cols, rank, bound))
                self.w_h.append(LowRank(4 * n, n, rank, bound))
            elif kind == SHARED:
                if self.input_is_shared(l):
                    self.w_x.append(SharedLowRank(4 * n, self.projections[str(l - 1)], bound))
                else:
                    self.w_x.append(LowRank(4 * n, cols, rank, bound))
                self.w_h.append(SharedLowRank(4 * n, self.projections[str(l)], bound))
            else:
                raise ValueError(f"unknown layer kind {kind!r}")
        self.b = nn.ParameterList(nn.Parameter(torch.zeros(4 * n)) for _ in kinds)

    def input_is_shared(self, layer: int) -> bool:
        """Whether layer's W_x reuses the projection of the shared layer below it."""
        return layer > 0 and self.kinds[layer] == SHARED and self.kinds[layer - 1] == SHARED

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """x [T, B, m], state (h, c) [L, B, n] -> y [T, B, n], (h, c) [L, B, n]; fused kernel."""
        hs, cs = [], []
        for l in range(len(self.kinds)):
            if l > 0 and self.training and self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, training=True)
            weights = [self.w_x[l].weight(), self.w_h[l].weight(), self.b[l], torch.zeros_like(self.b[l])]
            x, h, c = _VF.lstm(x, (state[0][l:l + 1], state[1][l:l + 1]), weights, True, 1, 0.0,
                               self.training, False, False)
            hs.append(h[0])
            cs.append(c[0])
        return x, (torch.stack(hs), torch.stack(cs))

    def forward_explicit(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """The same, one step at a time with the structured products (evaluation only)."""
        hs, cs = [], []
        for l in range(len(self.kinds)):
            gx = self.w_x[l](x) + self.b[l]
            h, c = state[0][l], state[1][l]
            ys = []
            for t in range(x.shape[0]):
                i, f, g, o = (gx[t] + self.w_h[l](h)).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                ys.append(h)
            x = torch.stack(ys)
            hs.append(h)
            cs.append(c)
        return x, (torch.stack(hs), torch.stack(cs))

    def layer_parameters(self) -> list[int]:
        """Parameters of each layer: W_x, W_h, bias, and the layer's own projection."""
        out = []
        for l in range(len(self.kinds)):
            # A SharedLowRank holds only U; each projection is counted with its own layer.
            own = list(self.w_x[l].parameters()) + list(self.w_h[l].parameters()) + [self.b[l]]
            if str(l) in self.projections:
                own.append(self.projections[str(l)].p)
            out.append(sum(p.numel() for p in own))
        return out


def layer_parameter_count(kind: str, cols: int, n: int, rank: int = 0, displacement_rank: int = 0,
                          shared_input: bool = False) -> int:
    """Closed-form parameter count of one layer (bias 4n; dense counts one bias, as exported)."""
    if kind == "dense":
        return 4 * n * (cols + n) + 4 * n
    if kind == LOWRANK:
        return rank * (4 * n + cols) + rank * (4 * n + n) + 4 * n
    if kind == SHARED:
        w_x = 4 * n * rank if shared_input else rank * (4 * n + cols)
        return w_x + 4 * n * rank + rank * n + 4 * n
    if kind == TOEPLITZ:
        blocks = 4 * -(-cols // n) + 4
        return blocks * 2 * displacement_rank * n + 4 * n
    raise ValueError(kind)

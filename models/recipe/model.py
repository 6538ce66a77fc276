"""Unidirectional LSTM-CTC acoustic model over stacked log-mel frames.

Why this shape: a unidirectional LSTM streams with a fixed-size state (h, c per layer), which
is exactly what the server carries between chunks; CTC over characters needs no lexicon.

Two interchangeable ways to run the recurrent stack:
  * `LstmLayer` - an explicit, gate-stacked cell (W_x [4n, m], W_h [4n, n], b [4n], gate order
    i, f, g, o as PyTorch). Later compressed variants (low-rank, shared low-rank,
    Toeplitz-like) replace `gates_x`/`gates_h` and keep the recurrence.
  * `torch.nn.LSTM` - the fast fused kernel used to train the dense baseline.
  * `compact.CompactLstm` - the paper's structured variants (`arch` = lowrank, shared-lowrank,
    toeplitz, hybrid); see compact.py. Dense models keep exactly the config and weights they
    always had, so old checkpoints load unchanged.
`AcousticModel.explicit_layers()` views the nn.LSTM weights as `LstmLayer`s, and
`forward(..., explicit=True)` runs them, so the weight mapping used by the exporter is
checked against the fused kernel (export_onnx.py and test_recipe.py do).
"""
from __future__ import annotations

import torch
from torch import nn

from compact import CompactLstm, layer_kinds

VOCAB = ["<blank>", " ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
BLANK = 0
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}


def encode_text(text: str) -> list[int]:
    """Character ids of a manifest text (lower-case a-z, space, apostrophe)."""
    return [TOKEN_ID[ch] for ch in text]


def greedy_decode(ids: list[int]) -> str:
    """Collapse repeats, drop blanks, normalise spaces."""
    out, prev = [], BLANK
    for i in ids:
        if i != prev and i != BLANK:
            out.append(VOCAB[i])
        prev = i
    return " ".join("".join(out).split())


class LstmLayer(nn.Module):
    """One LSTM layer with explicit gate-stacked weights (PyTorch gate order i, f, g, o)."""

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.w_x = nn.Parameter(torch.empty(4 * hidden, input_size))
        self.w_h = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.b = nn.Parameter(torch.zeros(4 * hidden))
        bound = hidden ** -0.5
        nn.init.uniform_(self.w_x, -bound, bound)
        nn.init.uniform_(self.w_h, -bound, bound)

    def gates_x(self, x: torch.Tensor) -> torch.Tensor:
        """Input contribution for all time steps at once: [T, B, m] -> [T, B, 4n]."""
        return x @ self.w_x.t() + self.b

    def gates_h(self, h: torch.Tensor) -> torch.Tensor:
        """Recurrent contribution of one step: [B, n] -> [B, 4n]."""
        return h @ self.w_h.t()

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """x [T, B, m], h/c [B, n] -> y [T, B, n], (h, c)."""
        gx = self.gates_x(x)
        ys = []
        for t in range(x.shape[0]):
            i, f, g, o = (gx[t] + self.gates_h(h)).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys), h, c


class SpecAugment(nn.Module):
    """Time and frequency masks on normalised stacked frames (training only).

    A frequency mask hides the same mel bins in all `stack` sub-frames of a model frame;
    a time mask zeroes whole model frames (zero = the training mean after CMVN).
    """

    def __init__(self, num_mel_bins: int, stack: int, freq_masks=2, freq_width=15,
                 time_masks=2, time_width=0.05, mel_warp=0.0):
        super().__init__()
        self.bins, self.stack = num_mel_bins, stack
        self.mel_warp = mel_warp
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    def warp(self, feats: torch.Tensor) -> torch.Tensor:
        """Vocal-tract-length-like perturbation of raw stacked log-mel frames (training only).

        Why: the held-out voices differ from the training voices mostly in timbre, i.e. in
        where the formants sit. Each utterance's mel axis is stretched by one factor
        alpha ~ U(1 - mel_warp, 1 + mel_warp) (bin i takes the value at bin i * alpha,
        linearly interpolated, clamped at the top bin), which moves every formant the way a
        longer or shorter vocal tract would, without regenerating any audio.
        """
        if not self.training or self.mel_warp <= 0:
            return feats
        b, t, d = feats.shape
        alpha = 1 + (torch.rand(b, 1, 1, 1) * 2 - 1) * self.mel_warp
        pos = (torch.arange(self.bins).view(1, 1, 1, -1) * alpha).clamp(max=self.bins - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=self.bins - 1)
        frac = pos - lo
        x = feats.view(b, t, self.stack, self.bins)
        gather = lambda ix: torch.gather(x, 3, ix.expand(b, t, self.stack, self.bins))
        return ((1 - frac) * gather(lo) + frac * gather(hi)).reshape(b, t, d)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        b, t, _ = x.shape
        keep = torch.ones(b, t, self.bins, device=x.device)
        bins = torch.arange(self.bins, device=x.device)
        frames = torch.arange(t, device=x.device)
        for _ in range(self.freq_masks):
            w = torch.randint(0, self.freq_width + 1, (b, 1, 1))
            f0 = (torch.rand(b, 1, 1) * (self.bins - w)).long()
            keep = keep * ~((bins >= f0) & (bins < f0 + w))
        for _ in range(self.time_masks):
            w = (torch.rand(b, 1, 1) * self.time_width * lengths.view(b, 1, 1)).long()
            t0 = (torch.rand(b, 1, 1) * (lengths.view(b, 1, 1) - w).clamp(min=1)).long()
            keep = keep * ~((frames.view(1, t, 1) >= t0) & (frames.view(1, t, 1) < t0 + w))
        return x * keep.repeat(1, 1, self.stack)


class AcousticModel(nn.Module):
    """CMVN -> SpecAugment -> LSTM stack (dropout between layers) -> Linear -> log-softmax."""

    def __init__(self, input_dim=240, hidden=320, layers=3, vocab=len(VOCAB), dropout=0.15,
                 num_mel_bins=80, stack=3, subsample=3, arch="dense", rank=0, displacement_rank=0,
                 toeplitz_layers=0):
        super().__init__()
        if input_dim != stack * num_mel_bins:
            raise ValueError(f"input_dim {input_dim} != stack {stack} x {num_mel_bins} mel bins")
        # subsample does not change the graph; it is kept so the exporter writes the
        # [frames] section the model was trained with.
        self.config = dict(input_dim=input_dim, hidden=hidden, layers=layers, vocab=vocab,
                           dropout=dropout, num_mel_bins=num_mel_bins, stack=stack,
                           subsample=subsample)
        self.hidden, self.layers, self.arch = hidden, layers, arch
        # Global CMVN as a fixed first layer: y = (x - mean) * inv_std.
        self.register_buffer("cmvn_mean", torch.zeros(input_dim))
        self.register_buffer("cmvn_inv_std", torch.ones(input_dim))
        self.specaug = SpecAugment(num_mel_bins, stack)
        if arch == "dense":
            self.rnn = nn.LSTM(input_dim, hidden, num_layers=layers, dropout=dropout)
        else:
            self.config.update(arch=arch, rank=rank, displacement_rank=displacement_rank,
                               toeplitz_layers=toeplitz_layers)
            self.rnn = CompactLstm(input_dim, hidden, layer_kinds(arch, layers, toeplitz_layers),
                                   rank, displacement_rank, dropout)
        self.out_dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab)

    def set_cmvn(self, mean, std) -> None:
        self.cmvn_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.cmvn_inv_std.copy_(1.0 / torch.as_tensor(std, dtype=torch.float32))

    def explicit_layers(self) -> list[LstmLayer]:
        """The nn.LSTM weights as explicit layers (copies; PyTorch gate order i, f, g, o)."""
        if self.arch != "dense":
            raise ValueError("explicit_layers() is the dense model's; compact models run "
                             "forward(explicit=True) on their structured layers")
        out = []
        for k in range(self.layers):
            layer = LstmLayer(self.rnn.input_size if k == 0 else self.hidden, self.hidden)
            with torch.no_grad():
                layer.w_x.copy_(getattr(self.rnn, f"weight_ih_l{k}"))
                layer.w_h.copy_(getattr(self.rnn, f"weight_hh_l{k}"))
                layer.b.copy_(getattr(self.rnn, f"bias_ih_l{k}") + getattr(self.rnn, f"bias_hh_l{k}"))
            out.append(layer)
        return out

    def zero_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(self.layers, batch, self.hidden)
        return z, z.clone()

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None, state=None,
                explicit: bool = False):
        """feats [B, T, stack*80] raw stacked log-mel -> log_probs [B, T, V], (h, c) [L, B, n].

        Padding frames sit at the end of each row, so a unidirectional stack gives the
        valid frames the same output as an unpadded run.
        """
        b, t, _ = feats.shape
        if lengths is None:
            lengths = torch.full((b,), t)
        if state is None:
            state = self.zero_state(b)
        x = (self.specaug.warp(feats) - self.cmvn_mean) * self.cmvn_inv_std
        x = self.specaug(x, lengths).transpose(0, 1)  # [T, B, D]
        if explicit and self.arch != "dense":
            x, (h_n, c_n) = self.rnn.forward_explicit(x, state)
        elif explicit:
            hs, cs = [], []
            for k, layer in enumerate(self.explicit_layers()):
                x, h, c = layer(x, state[0][k], state[1][k])
                hs.append(h)
                cs.append(c)
            h_n, c_n = torch.stack(hs), torch.stack(cs)
        else:
            x, (h_n, c_n) = self.rnn(x, state)
        y = self.output(self.out_dropout(x.transpose(0, 1)))
        # float(): under bf16 autocast (train.py --bf16) the softmax and CTC stay in fp32.
        return torch.log_softmax(y.float(), dim=-1), (h_n, c_n)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lstm_parameters(model: AcousticModel) -> int:
    """Parameters of the recurrent stack alone, with one bias vector per layer (nn.LSTM's two
    are redundant: only their sum acts), as compact layers have."""
    if model.arch == "dense":
        return sum(p.numel() for name, p in model.rnn.named_parameters() if "bias_hh" not in name)
    return count_parameters(model.rnn)

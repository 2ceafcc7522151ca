"""ConvLSTM encoder-decoder (seq2seq) next-frame predictor.

Per frame: conv encoder (``log2(stride)`` stride-2 convs) to ``embed`` channels at
[H/stride, W/stride]. An encoder ConvLSTM stack reads the ``n_input`` context
embeddings; its final states initialise a decoder stack of the same sizes. The
decoder input at step k is the embedding of frame k-1 (step 0: the last context
frame); a ConvTranspose head maps the decoder output back to a frame.

Output of step k: ``(frame_{k-1} + head(h)).clamp(-1, 1)`` when ``residual`` (head
zero-initialised, so an untrained model is exactly copy-last), else ``tanh(head(h))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from vfp.frames import clamp_model
from vfp.models.contract import check_context
from vfp.models.convlstm import ConvLSTMStack
from vfp.models.registry import register_model
from vfp.models.sections import SupervisedSection, net_schema
from vfp.schema import Params, bounded


def _n_down(stride: int) -> int:
    n = int(math.log2(stride)) if stride >= 1 else -1
    if n < 0 or 2**n != stride:
        raise ValueError(f"stride must be a power of 2, got {stride}")
    return n


@dataclass(frozen=True)
class SamplingSchedule(Params):
    """Scheduled sampling (Bengio et al. 2015, as PredRNN / OpenSTL): the probability that a decoder step
    is fed the model's own prediction instead of the true frame goes linearly from ``start`` to ``end``
    over the first ``decay`` fraction of the run's iterations, then stays at ``end`` (1 = training
    matches the autoregressive test). ``start == end``: a constant ratio."""

    start: float = bounded(0.0, ge=0, le=1)
    end: float = bounded(1.0, ge=0, le=1)
    decay: float = bounded(0.8, gt=0, le=1)


class Seq2Seq(nn.Module):
    """``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]``.

    Training with ``future``: teacher forcing; at each step after the first, with
    probability ``sampling_ratio`` the model's own (non-detached) prediction is fed
    instead of the true frame (scheduled sampling, one draw per clip and step). The
    ``seq2seq`` section's ``sampling`` schedule moves the ratio during training (see
    :class:`SamplingSchedule`). Eval or ``future=None``: autoregressive.
    """

    def __init__(
        self,
        n_input: int = 4,
        channels: int = 3,
        embed: int = 32,
        hidden: tuple[int, ...] = (64,),
        kernel: int = 3,
        stride: int = 4,
        residual: bool = True,
        sampling_ratio: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= sampling_ratio <= 1.0:
            raise ValueError(f"sampling_ratio must be in [0, 1], got {sampling_ratio}")
        n_down = _n_down(stride)
        self.n_input, self.stride = n_input, stride
        self.residual, self.sampling_ratio = residual, sampling_ratio

        enc: list[nn.Module] = []
        c_in = channels
        for _ in range(max(n_down, 1)):
            enc += [nn.Conv2d(c_in, embed, 3, stride=2 if n_down else 1, padding=1), nn.ReLU()]
            c_in = embed
        self.frame_encoder = nn.Sequential(*enc)

        self.encoder = ConvLSTMStack(embed, tuple(hidden), kernel)
        self.decoder = ConvLSTMStack(embed, tuple(hidden), kernel)

        head: list[nn.Module] = []
        c_in = hidden[-1]
        for i in range(n_down):
            c_out = channels if i == n_down - 1 else embed
            head.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
            if i < n_down - 1:
                head.append(nn.ReLU())
            c_in = c_out
        if n_down == 0:
            head.append(nn.Conv2d(c_in, channels, 3, padding=1))
        self.head = nn.Sequential(*head)
        if residual:
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def _output(self, h: torch.Tensor, prev_frame: torch.Tensor) -> torch.Tensor:
        if self.residual:  # stays in [-1, 1] because of the clamp
            return clamp_model(prev_frame + self.head(h))
        return torch.tanh(self.head(h))

    def _next_input(self, pred: torch.Tensor, true: torch.Tensor | None) -> torch.Tensor:
        """The decoder's next input: the true frame, or per clip with probability ``sampling_ratio``
        the model's own (non-detached) prediction (scheduled sampling; autoregressive without ``true``)."""
        if true is None or self.sampling_ratio >= 1:
            return pred
        if self.sampling_ratio <= 0:
            return true
        own = torch.rand(pred.shape[0], device=pred.device) < self.sampling_ratio
        return torch.where(own.view(-1, 1, 1, 1), pred, true)

    def forward(
        self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_context(context, self.n_input, self.stride)
        frames = context[:, -self.n_input :]
        states = None
        for t in range(self.n_input):
            emb = self.frame_encoder(frames[:, t])
            _, states = self.encoder(emb, states)

        teacher = self.training and future is not None
        prev, preds = frames[:, -1], []
        for k in range(n_future):
            if k > 0:
                prev = self._next_input(preds[-1], future[:, k - 1] if teacher else None)
                emb = self.frame_encoder(prev)
            h, states = self.decoder(emb, states)
            preds.append(self._output(h, prev))
        return torch.stack(preds, dim=1)


Seq2SeqNet = net_schema(Seq2Seq)


@dataclass(frozen=True)
class Seq2SeqSection(SupervisedSection):
    """``seq2seq: {lr, n_output, weight_decay, lr_schedule, loss, sampling: {start, end, decay}, net}``."""

    net: Seq2SeqNet = field(default_factory=Seq2SeqNet)
    sampling: SamplingSchedule = field(default_factory=SamplingSchedule)


register_model("seq2seq", recipe="supervised", params=Seq2SeqSection)(Seq2Seq)

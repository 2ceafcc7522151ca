"""Convolutional LSTM (Shi et al., 2015): a cell and a stack of cells.

Shapes: x [B, C_in, H, W]; state (h, c), each [B, C_hidden, H, W].
"""
from __future__ import annotations

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell; the four gates come from a single conv over [x, h]."""

    def __init__(self, in_ch: int, hidden_ch: int, kernel: int = 3):
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd to keep the size, got {kernel}")
        self.hidden_ch = hidden_ch
        self.gates = nn.Conv2d(in_ch + hidden_ch, 4 * hidden_ch, kernel, padding=kernel // 2)

    def init_state(self, x: torch.Tensor) -> State:
        zeros = x.new_zeros(x.shape[0], self.hidden_ch, *x.shape[-2:])
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        h, c = self.init_state(x) if state is None else state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMStack(nn.Module):
    """Cells stacked in depth: cell k reads the hidden state of cell k-1.

    ``forward(x, states) -> (h_top, states)`` for one time step.
    """

    def __init__(self, in_ch: int, hidden: tuple[int, ...] = (64,), kernel: int = 3):
        super().__init__()
        sizes = [in_ch, *hidden]
        self.cells = nn.ModuleList(
            ConvLSTMCell(c_in, c_out, kernel) for c_in, c_out in zip(sizes[:-1], sizes[1:])
        )

    def forward(
        self, x: torch.Tensor, states: list[State] | None = None
    ) -> tuple[torch.Tensor, list[State]]:
        states = states or [None] * len(self.cells)
        new_states = []
        for cell, state in zip(self.cells, states):
            h, c = cell(x, state)
            new_states.append((h, c))
            x = h
        return x, new_states

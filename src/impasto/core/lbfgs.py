"""L-BFGS that never waits for the device: every decision is a tensor operation, nothing is read back.

The method is Nocedal's limited-memory BFGS with a fixed step, as torch.optim.LBFGS runs it with
``max_iter=1`` and no line search (impasto's setting since 0.1): the same iterates, within rounding
(tests/core/test_lbfgs.py compares them step by step). What differs is where the work happens:

- torch keeps the curvature pairs in Python lists and decides with Python ``if``s on tensor values
  (``ys > 1e-10``, ``gtd > 0``, ``float(loss)``); on a GPU each of those waits for the device, about four
  times per step, and the two-loop recursion launches two tiny kernels per stored pair.
- here the pairs live in one preallocated ring buffer (2, m, n); a rejected pair, the step length and
  the descent check are ``torch.where``s; and the inverse-Hessian product uses the compact form of
  Byrd, Nocedal & Schnabel (1994): two matrix products over the whole history and a few (m × m)
  operations, instead of 4m vector operations. Every shape is fixed, so the step can be compiled or
  captured in a CUDA graph.

Compact form (BNS 1994, eq. 3.1): with the pairs as columns of S and Y (oldest first), R the upper
triangle of SᵀY, D its diagonal and H₀ = γI,

    H g = γ g + S a − γ Y u,   u = R⁻¹ Sᵀg,   a = R⁻ᵀ ((D + γ YᵀY) u − γ Yᵀg).
"""

from __future__ import annotations

import torch

HISTORY = 50  # curvature pairs kept (torch's history_size, as impasto has always used)
CURVATURE_MIN = 1e-10  # a pair with s·y at or below this is not stored (torch's threshold)


class LBFGS:
    """Fixed-step L-BFGS over a flat parameter of ``size`` elements, all state on ``device``.

    ``step(x, grad)`` moves ``x`` (a flat (n,) tensor, changed in place) along the L-BFGS direction.
    The first step is scaled to min(1, 1/‖g‖₁)·lr as in torch; later ones take lr.
    """

    def __init__(
        self,
        size: int,
        lr: float = 1.0,
        history: int = HISTORY,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, device=device, dtype=dtype)

        self.lr = lr
        self.history = history
        self.pairs = zeros(2, history, size)  # [0]: steps s, [1]: gradient changes y, by slot
        self.sy = zeros(history, history)  # sy[i, j] = s_i · y_j, by slot
        self.yy = zeros(history, history)  # yy[i, j] = y_i · y_j
        self.age = torch.full((history,), -1, device=device, dtype=torch.int64)  # when written; −1: empty
        self.head = torch.zeros((), device=device, dtype=torch.int64)  # the slot the next pair goes to
        self.clock = torch.zeros((), device=device, dtype=torch.int64)  # pairs stored so far
        self.gamma = torch.ones((), device=device, dtype=dtype)  # H₀ = γI, γ = s·y / y·y of the newest
        self.direction = zeros(size)
        self.length = torch.zeros((), device=device, dtype=dtype)  # the last step's length t
        self.previous_grad = zeros(size)
        self.steps = 0  # on the host: known without asking the device

    @torch.no_grad()
    def step(self, x: torch.Tensor, grad: torch.Tensor) -> None:
        """x, grad: (n,), x changed in place."""
        m = self.history
        flat = self.pairs.view(2 * m, -1)  # (2m, n): S's rows, then Y's
        if self.steps:
            s = self.direction * self.length  # the step as planned, before any clamping by the caller
            y = grad - self.previous_grad
            slot, new = self._store(s, y)  # the slot written, and the (2, n) pair now in it
            # One pass over the history for every inner product this step needs.
            products = flat @ torch.stack([new[0], new[1], grad], dim=1)  # (2m, 3)
            self._record_products(slot, products[:m, 1], products[m:, 0], products[m:, 1])
            s_g, y_g = products[:m, 2], products[m:, 2]
        else:
            s_g = y_g = torch.zeros(m, device=grad.device, dtype=grad.dtype)
        direction = -self.inverse_hessian_times(grad, s_g, y_g)
        self.previous_grad.copy_(grad)
        if self.steps:
            length = torch.full_like(self.length, self.lr)
        else:
            length = grad.abs().sum().reciprocal().clamp(max=1.0) * self.lr
        # Along an ascent direction (only possible with a broken history) torch does not move.
        descent = (grad @ direction) <= 0
        x.add_(direction * torch.where(descent, length, torch.zeros_like(length)))
        self.direction.copy_(direction)
        self.length = length
        self.steps += 1

    def _store(self, s: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Put (s, y) in the oldest slot if s·y > CURVATURE_MIN, else leave it; returns the slot (1,)
        and the pair now in it (2, n)."""
        ys = s @ y
        accept = ys > CURVATURE_MIN
        slot = self.head.view(1)
        new = torch.where(accept, torch.stack([s, y]), self.pairs.index_select(1, slot)[:, 0])  # (2, n)
        self.pairs.index_copy_(1, slot, new[:, None])
        self.age.index_copy_(
            0, slot, torch.where(accept, self.clock, self.age.index_select(0, slot)[0])[None]
        )
        step = accept.to(torch.int64)
        self.clock += step
        self.head = (self.head + step) % self.history
        self.gamma = torch.where(accept, ys / (y @ y), self.gamma)
        return slot, new

    def _record_products(
        self, slot: torch.Tensor, s_dot_y: torch.Tensor, y_dot_s: torch.Tensor, y_dot_y: torch.Tensor
    ) -> None:
        """The head slot's row and column of SᵀY and YᵀY: s_i·y_new, s_new·y_j, y_i·y_new, each (m,).
        For a slot left unchanged they come out the same as before, so this needs no condition."""
        self.sy.index_copy_(1, slot, s_dot_y[:, None])
        self.sy.index_copy_(0, slot, y_dot_s[None])
        self.yy.index_copy_(1, slot, y_dot_y[:, None])
        self.yy.index_copy_(0, slot, y_dot_y[None])

    def inverse_hessian_times(self, g: torch.Tensor, s_g: torch.Tensor, y_g: torch.Tensor) -> torch.Tensor:
        """H g for the current history (compact form, see the module docstring).

        g: (n,); s_g, y_g: (m,) Sᵀg and Yᵀg by slot → (n,).
        """
        m = self.history
        order = torch.argsort(self.age)  # oldest first; empty slots (age −1) come first, masked out
        valid = (self.age >= 0).index_select(0, order).to(g.dtype)  # (m,)
        both = valid[:, None] * valid[None, :]
        sy = self.sy.index_select(0, order).index_select(1, order) * both  # (m, m), time order
        yy = self.yy.index_select(0, order).index_select(1, order) * both
        # An empty slot gets a unit diagonal in R, so R stays invertible and the slot's coefficients are 0.
        r = torch.triu(sy) + torch.diag(1 - valid)
        s_g = s_g.index_select(0, order) * valid
        y_g = y_g.index_select(0, order) * valid
        gamma = self.gamma
        u = torch.linalg.solve_triangular(r, s_g[:, None], upper=True)[:, 0]
        inner = torch.diagonal(sy) * u + gamma * (yy @ u) - gamma * y_g
        a = torch.linalg.solve_triangular(r.T, inner[:, None], upper=False)[:, 0]
        coefficients = torch.zeros(2, m, device=g.device, dtype=g.dtype)  # back to slot order
        coefficients[0].index_copy_(0, order, a)
        coefficients[1].index_copy_(0, order, -gamma * u)
        return gamma * g + coefficients.view(2 * m) @ self.pairs.view(2 * m, -1)

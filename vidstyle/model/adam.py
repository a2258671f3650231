"""Adam with a step-decayed learning rate, as ``torch.optim.Adam`` with ``StepLR`` computes it.

Written out because every ``torch.optim`` optimizer imports ``torch._dynamo`` when it is built
(``add_param_group`` is wrapped in ``torch._disable_dynamo``): 1.1-2.2 s on a 2-core CPU, out
of about a minute from the command to the preview, for a compiler that training never uses.
The update is torch's own multi-tensor ("foreach") Adam, the same handful of kernels per step
for any number of parameters; tests/test_train.py checks it against ``torch.optim.Adam``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """Kingma & Ba (2015) without weight decay or amsgrad; the learning rate is multiplied by
    ``decay`` after every ``decay_every`` steps (``StepLR``), in the same floating-point order."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, *, decay: float = 1.0,
                 decay_every: int = 1, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam needs at least one parameter that requires a gradient")
        if decay_every < 1:
            raise ValueError(f"the learning rate decays every {decay_every} steps; use 1 or more")
        self.decay, self.decay_every = decay, decay_every
        self.current_lr = lr  # multiplied by ``decay`` every ``decay_every`` steps, as StepLR does it
        self.betas, self.eps = betas, eps
        self.steps = 0  # the schedule's count
        self._counts = [0] * len(self.params)  # each parameter's own, for its bias correction
        self._m = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._v = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient; as in torch.optim, the others are
        left alone and their bias corrections do not advance."""
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        lr = self.current_lr
        self.steps += 1
        if self.steps % self.decay_every == 0:
            self.current_lr *= self.decay
        if not live:
            return
        beta1, beta2 = self.betas
        params = [self.params[i] for i in live]
        grads = [self.params[i].grad for i in live]
        m, v = [self._m[i] for i in live], [self._v[i] for i in live]
        for i in live:
            self._counts[i] += 1
        counts = [self._counts[i] for i in live]
        torch._foreach_lerp_(m, grads, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, 1 - beta2)
        denominator = torch._foreach_sqrt(v)
        torch._foreach_div_(denominator, [(1 - beta2 ** t) ** 0.5 for t in counts])
        torch._foreach_add_(denominator, self.eps)
        torch._foreach_addcdiv_(params, m, denominator, [-lr / (1 - beta1 ** t) for t in counts])

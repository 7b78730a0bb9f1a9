"""Context models for the tests (imported by fixtures and by decoder subprocesses).

No trained mbt2018 / cheng2020-anchor can be downloaded here, so the trained one is
built from the bundled mean-scale model: mbt2018's g_a, g_s, h_a, h_s have exactly
mbt2018-mean's shapes, so they are copied; the context convolution gets small random
weights and the entropy-parameters network passes h_s's (σ, μ) through plus half the
context (a large bias keeps its LeakyReLUs in their linear part). The result is a
real context model (μ, σ depend on the causal neighbours) whose transforms are trained.
"""

from __future__ import annotations

import torch
from compressai.models import Cheng2020Anchor, JointAutoregressiveHierarchicalPriors

from sgaplus.latent_model import LatentModel

#: Keeps the pass-through entropy-parameters network's LeakyReLUs linear.
_BIAS = 1000.0


def trained_context_net(base: LatentModel, seed: int = 0) -> JointAutoregressiveHierarchicalPriors:
    n, m = base.net.N, base.net.M
    net = JointAutoregressiveHierarchicalPriors(n, m)
    net.load_state_dict(base.net.state_dict(), strict=False)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        cp = net.context_prediction
        cp.weight.copy_(torch.randn(cp.weight.shape, generator=gen) * 0.002)
        cp.bias.zero_()
        convs = [c for c in net.entropy_parameters if isinstance(c, torch.nn.Conv2d)]
        eye = torch.eye(2 * m)
        for i, conv in enumerate(convs):
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[:2 * m, :2 * m, 0, 0] = eye
            conv.bias[:2 * m] = (_BIAS, 0.0, -_BIAS)[i]
        convs[0].weight[:2 * m, 2 * m:, 0, 0] = 0.5 * eye
    net.update(force=True)
    return net


def tiny_cheng_net(seed: int = 0) -> Cheng2020Anchor:
    """An untrained Cheng2020Anchor(N=8): plumbing, shapes and exactness only."""
    torch.manual_seed(seed)
    net = Cheng2020Anchor(8)
    net.update(force=True)
    return net


def wrap(net, name: str, lmbda: float = 0.013) -> LatentModel:
    return LatentModel(net, name=name, lmbda=lmbda).prepare()

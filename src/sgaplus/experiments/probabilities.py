"""Fig. 1: the probability each relaxation gives a candidate integer, as a
function of the latent's position; no refinement, no model."""

from __future__ import annotations

import torch

from ..relax import get_relaxation, method_classes
from .harness.context import Context, Experiment, Section, register
from .harness.plotting import legend, label, plt, save

#: The probability functions of the Gumbel methods (deterministic annealing shares atanh's).
TWO_CLASS = tuple(m.name for m in method_classes() if m.classes == 2 and m.stochastic)
THREE_CLASS = tuple(m.name for m in method_classes() if m.classes == 3)
SSL_A = (1.0, 1.6, 2.3, 4.0, 8.0)


def plan(ctx: Context) -> list:
    return []


def _curves(ax, method, v: torch.Tensor, names: tuple[str, ...], title: str) -> None:
    _, probs = method.candidates(v)
    for k, name in enumerate(names):
        ax.plot(v, probs[..., k], label=name)
    ax.set_title(title)
    ax.set_xlabel("latent value v")


def analyse(ctx: Context) -> Section:
    two, three = torch.linspace(0.001, 0.999, 400), torch.linspace(-0.499, 0.499, 400)
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.5))
    for ax, name in zip(axes[0], TWO_CLASS):
        _curves(ax, get_relaxation(name), two, ("candidate 0 (floor)", "candidate 1 (ceil)"),
                f"{label(name)}: p(d)")
    for ax, name in zip(axes[1], THREE_CLASS):
        _curves(ax, get_relaxation(name), three, ("candidate −1", "candidate 0", "candidate +1"),
                f"{label(name)} (normalised)")
    ax = axes[1][3]
    d = torch.linspace(0.001, 0.999, 400)
    for a in SSL_A:
        ax.plot(d, get_relaxation("ssl", a=a).log_prob(d).exp(), label=f"a={a:g}")
    ax.set_title("SSL p(d) for several a")
    ax.set_xlabel("distance d to the candidate")
    for ax in axes.flat:
        ax.set_ylabel("probability")
        legend(ax)
    md = save(fig, ctx.figures, "probabilities",
              "Candidate probabilities of every relaxation (Fig. 1)")
    body = (f"{md}\n\nTop: the two-class functions p(d) of the spec's table (atanh is not "
            "normalised: its two values do not sum to one). Bottom: the three-class "
            "functions at their defaults (r=0.98, n=1.5; SSL3 a=1.4, n=1.4), normalised, and "
            "SSL for several a (a=1 is linear, large a approaches hard rounding).")
    return Section("Candidate probabilities (Fig. 1)", body, {"ssl_a": list(SSL_A)})


EXPERIMENT = register(Experiment("probabilities", "Fig. 1", plan, analyse))

"""Reproduction of the appendix figures of "Nonlocal Neural Tangent Kernels via
Parameter-Space Interactions" (Nagaraj and Hari, 2025), and benchmark tables.

:func:`reproduce` draws kernel heatmaps, spectrum convergence, alignment
curves and the alignment over training steps for networks with nonsmooth
activations, and measures held-out errors of the kernel estimators against
scikit-learn references. The command line
``sknntk reproduce --out DIR`` runs it. It needs matplotlib
(``pip install "sknntk[plot]"``).
"""

from sknntk.experiments._runner import reproduce
from sknntk.experiments._settings import Settings, make_settings

__all__ = ["Settings", "make_settings", "reproduce"]

"""Offline GAN training, evaluation and export into the service's checkpoint format.

Needs torch (+ the `train` extra); never imports the service's packages, so it runs on GPU hosts
that have only PyTorch.
"""

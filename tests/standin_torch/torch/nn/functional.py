"""torch/nn/functional.py — stands in for the few functions of torch.nn.functional the stand-in's
modules use. Each is one operation with one result (as the real kernels are), allocated on the
inputs' device; see torch/_tensor.py for what a result is. The frames of this file are left out of
recorded stacks: most of these are C++ in the real torch (mse_loss and cross_entropy have one
Python frame of torch/nn/functional.py there before the kernel)."""
import torch

torch._caching_allocator.register_native_file(__file__)  # these are C++ kernels in the real torch


def linear(input, weight, bias=None):
    """input (*, in) @ weight.T (out, in) + bias: one (*, out) result (addmm in the real torch)."""
    if input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({input.numel() // max(input.shape[-1], 1)}x"
                           f"{input.shape[-1]} and {weight.shape[-1]}x{weight.shape[0]})")
    inputs = (input, weight) if bias is None else (input, weight, bias)
    return input._result(tuple(input.shape[:-1]) + (weight.shape[0],), inputs, "AddmmBackward0")


def relu(input, inplace=False):
    return input if inplace else input.relu()


def dropout(input, p=0.5, training=True, inplace=False):
    return input.clone() if training and not inplace else input


def softmax(input, dim=None, dtype=None):
    return input.softmax(dim)


def log_softmax(input, dim=None, dtype=None):
    return input.log_softmax(dim)


def mse_loss(input, target, reduction="mean"):
    shape = input.shape if reduction == "none" else ()
    return input._result(tuple(shape), (input, target), "MseLossBackward0")


def cross_entropy(input, target, reduction="mean", **kwargs):
    """input (N, C) logits, target (N,) classes: a 0-d loss (a (N,) one with reduction='none')."""
    shape = (input.shape[0],) if reduction == "none" else ()
    return input._result(shape, (input,), "NllLossBackward0")


__all__ = ["linear", "relu", "dropout", "softmax", "log_softmax", "mse_loss", "cross_entropy"]

"""torch/optim/__init__.py — stands in for torch.optim's Optimizer, SGD and Adam (Python in the real
torch too, so their frames appear in recorded stacks). They keep the state the real ones keep, on
the parameters' device: SGD with momentum a momentum buffer per parameter (made at the first step),
Adam exp_avg and exp_avg_sq per parameter (made at the first step) and, at every step, the
temporary `denom` of the real single-tensor implementation. Updates are in place (no allocation)."""
import torch


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}
        params = list(params)
        if params and isinstance(params[0], dict):
            self.param_groups = [{**defaults, **group, "params": list(group["params"])} for group in params]
        else:
            self.param_groups = [{**defaults, "params": params}]

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    if set_to_none:
                        param.grad = None
                    else:
                        param.grad.zero_()

    def _state(self, param):
        return self.state.setdefault(id(param), {})

    def state_dict(self):
        return {"state": self.state, "param_groups": [{k: v for k, v in g.items() if k != "params"}
                                                      for g in self.param_groups]}


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["momentum"]:
                    state = self._state(param)
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.clone(grad).detach()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                    grad = state["momentum_buffer"]
                param.add_(grad)


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self._state(param)
                if not state:
                    state["step"] = torch.tensor(0.0)  # on the CPU, as in the real Adam
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["exp_avg"].lerp_(param.grad, 1 - group["betas"][0])
                state["exp_avg_sq"].mul_(group["betas"][1]).addcmul_(param.grad, param.grad)
                denom = state["exp_avg_sq"].sqrt().add_(group["eps"])
                param.addcdiv_(state["exp_avg"], denom)


__all__ = ["Optimizer", "SGD", "Adam"]

"""torch._inductor — a stand-in for PyTorch's compiler package (tests/standin_torch/README.md): a lazy
module of torch (imported at its first use as an attribute, as in the real torch, where that takes
seconds: 880 modules). Only what the snapshot's symbolization asks for: codecache.PyCodeCache."""
from torch._inductor import codecache  # noqa: F401

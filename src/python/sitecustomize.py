"""vramtrace's sitecustomize (src/python/sitecustomize.py): `vramtrace run` puts its directory first
on PYTHONPATH, so every Python process of the traced job imports this at start-up. It runs the
sitecustomize it shadows (a distribution's, a virtual environment's, the user's own), then activates
vramtrace's PyTorch integration (vramtrace_bootstrap.py). Nothing here may disturb the program:
every error is caught and said once on stderr."""


def _run_shadowed_sitecustomize():
    """Imports the next sitecustomize on sys.path, as Python would have without this one, under
    the name sitecustomize (so `import sitecustomize` elsewhere finds the real one's names)."""
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    path = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    _run_shadowed_sitecustomize()
except Exception as error:  # the shadowed file's own error: Python would have printed it too
    import sys

    print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(error).__name__}: {error}", file=sys.stderr)

try:
    import vramtrace_bootstrap

    vramtrace_bootstrap.activate()
except Exception as error:
    import sys

    print(f"vramtrace: PyTorch integration off ({type(error).__name__}: {error}); CUDA-level tracing goes on",
          file=sys.stderr)

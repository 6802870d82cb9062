"""The outside-truth tier: refimpl's kit and functions against real PyTorch, JAX and
library code (the ``interop`` extra: ``pip install -e ".[test,interop]"``).

Every test file here starts with ``pytest.importorskip`` of what it needs, so the tier
skips cleanly where the extra is absent; CI runs it as its own stage in its own fresh
virtual environment. Nothing here imports a framework at collection time.
"""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Torch on one thread where it is loaded: runs stay reproducible and leave the
    second core to the other pytest worker."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
    else:
        yield


#: The helper module of real code and planted faults is imported by the tests that need
#: it (after their importorskip), never collected itself (--doctest-modules would import
#: torch and transformers, which the core suite does not have).
collect_ignore = ["interop_faults.py"]

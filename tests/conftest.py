"""Shared pytest fixtures (keep this file small: one fixture per shared need)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def seeded() -> int:
    """Seed torch's generator with 0 for the test (returns the seed)."""
    torch.manual_seed(0)
    return 0


@pytest.fixture(scope="module")
def single_thread():
    """Run a test module with one intra-op thread (use: ``pytestmark = pytest.mark.usefixtures("single_thread")``).

    Tests made of many small ops run several times faster this way on a shared 2-core machine: with two threads
    each op waits for a busy core (ResNet-110 forward+backward at 8×8: 0.5 s instead of 22 s, measured under load).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

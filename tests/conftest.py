"""Shared fixtures for the reward-library tests."""

from __future__ import annotations

import pytest
from _samples import GOOD


@pytest.fixture
def good_completion() -> str:
    return GOOD


@pytest.fixture
def clean_plugins():
    """Undo run-time plugin registrations made by a test."""
    from stepreward import manager

    before = {name for name, _ in manager.get_plugin_manager().list_name_plugin()}
    yield manager
    for name, _ in list(manager.get_plugin_manager().list_name_plugin()):
        if name not in before:
            manager.unregister_plugin(name)

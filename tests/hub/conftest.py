"""The hub's test client (in process; the real-process tests start ``shuyu hub``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shuyu.config import HubSettings
from shuyu.hub.api import create_app

ADMIN = ("admin", "admin-password-1")


@pytest.fixture
def hub(tmp_path):
    app = create_app(HubSettings(home=str(tmp_path / "hub")), admin=ADMIN)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client

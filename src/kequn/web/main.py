"""Entry point for servers: ``uvicorn --factory kequn.web.main:app_from_env``."""

from __future__ import annotations

from fastapi import FastAPI

from kequn.web.app import create_app
from kequn.web.settings import Settings


def app_from_env() -> FastAPI:
    return create_app(Settings.from_env())

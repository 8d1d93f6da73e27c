"""Shared FastAPI dependencies: the objects the app factory put on app.state."""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from langnghe.config import Settings
from store.db import Database


def get_db(request: Request) -> Database:
    """The app's connection pool."""
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_queue(request: Request) -> Celery:
    """The Celery app used to enqueue work."""
    queue: Celery = request.app.state.queue
    return queue


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
QueueDep = Annotated[Celery, Depends(get_queue)]

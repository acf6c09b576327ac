"""What the request handlers share (:class:`Runtime`: settings, store and queue) and the page
languages; :func:`runtime` gives an app's."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from microlens.web.queue import Queue
from microlens.web.settings import Settings
from microlens.web.storage import Store

LANGUAGES = ("en", "ko")


@dataclass
class Runtime:
    """What the request handlers share: settings, store and queue."""

    settings: Settings
    store: Store
    queue: Queue


def runtime(app: Flask) -> Runtime:
    """The app's Runtime."""
    return app.extensions["microlens"]

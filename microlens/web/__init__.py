"""The microlens web app: ``create_app(config)`` builds it; nothing happens at import.

Pages (English and Korean), a JSON API under /api, a WebSocket at /ws/live for the webcam page, and
a Huey queue for the analyses (queue.py; one analysis job: jobs.py). Settings come from ``config``
and MICROLENS_* variables (settings.py). The recognition model is loaded once per process, on first
use (jobs.get_model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from microlens.web.context import Runtime
from microlens.web.forms import FIELD_LIMIT
from microlens.web.jobs import Analyzer
from microlens.web.queue import Queue
from microlens.web.settings import load_settings
from microlens.web.storage import Store, keep_caches_inside


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app.

    ``config`` keys: DATA_DIR, QUEUE_URL, API_TOKEN, RETENTION_DAYS, MAX_UPLOAD_MB, MAX_DURATION_S,
    MAX_QUEUE, MODEL, WORKERS (each defaults to its MICROLENS_* variable, see settings.py), plus any
    Flask key (TESTING, ...); for tests, ANALYZER (used instead of microlens.analyze.analyze) and
    MODEL_LOADER (used instead of jobs.get_model).
    """
    from flask_babel import Babel
    from flask_sock import Sock

    from microlens.web import api, errors, pages, review_api, security, webcam

    config = dict(config or {})
    settings = load_settings(config)
    app = Flask(__name__)
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    app.config["MAX_CONTENT_LENGTH"] = int(settings.max_upload_mb * 1024 * 1024)
    app.config["MAX_FORM_MEMORY_SIZE"] = FIELD_LIMIT  # text fields only (forms.py)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    app.config["JSON_SORT_KEYS"] = False
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 20, "max_message_size": 4 * 1024 * 1024})
    store = Store(settings.data_dir)
    keep_caches_inside(store.root)  # nothing is written outside DATA_DIR
    analyzer: Analyzer | None = config.get("ANALYZER")
    queue = Queue(settings, store, analyzer, config.get("MODEL_LOADER"))
    app.extensions["microlens"] = Runtime(settings, store, queue)
    app.request_class = security.DataDirRequest
    Babel(app, locale_selector=pages.select_locale)
    sock = Sock(app)
    security.init(app)
    errors.init(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(review_api.bp)
    app.register_blueprint(pages.bp)
    webcam.init(app, sock)
    return app

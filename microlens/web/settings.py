"""Web settings: read once, in the app factory or the worker, from a config dict and the environment.

Environment variables (a key in the ``config`` dict given to ``create_app`` wins over them):

=============================  =====================  ==========================================
variable                       config key             default
=============================  =====================  ==========================================
MICROLENS_DATA_DIR             DATA_DIR               ./data
MICROLENS_QUEUE_URL            QUEUE_URL              sqlite (DATA_DIR/queue.db); redis://host:port/db
MICROLENS_API_TOKEN            API_TOKEN              none (no token needed)
MICROLENS_RETENTION_DAYS       RETENTION_DAYS         7
MICROLENS_MAX_UPLOAD_MB        MAX_UPLOAD_MB          500
MICROLENS_MAX_DURATION_S       MAX_DURATION_S         1800
MICROLENS_MAX_QUEUE            MAX_QUEUE              50 (queued + running analyses)
MICROLENS_MODEL                MODEL                  casme2
MICROLENS_WORKERS              WORKERS                1 (embedded queue worker threads)
MICROLENS_ALLOWED_HOSTS        ALLOWED_HOSTS          none (local names, bound address); a,b or *
MICROLENS_BIND_HOST            BIND_HOST              set by ``microlens serve --host``
=============================  =====================  ==========================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Everything the web app and its queue workers need to know."""

    data_dir: Path  # uploads, results, databases
    queue_url: str  # "" -> SqliteHuey in data_dir/queue.db; "redis://..." -> RedisHuey; "memory://"
    api_token: str  # "" -> no token
    retention_days: float  # uploads and results older than this are deleted
    max_upload_mb: float  # larger request bodies get 413
    max_duration_s: float  # longer videos get 422
    max_queue: int  # queued + running analyses before 429
    model: str  # default model name or checkpoint path
    workers: int  # embedded consumer threads
    allowed_hosts: str  # comma-separated Host names accepted besides the local ones; "*": any
    bind_host: str  # the address the server is bound to ("" when unknown); its name is accepted too

    @property
    def retention_s(self) -> float:
        """Retention in seconds."""
        return self.retention_days * 86400.0


_ENV: dict[str, tuple[str, Any]] = {  # config key -> (environment variable, default)
    "DATA_DIR": ("MICROLENS_DATA_DIR", "data"),
    "QUEUE_URL": ("MICROLENS_QUEUE_URL", ""),
    "API_TOKEN": ("MICROLENS_API_TOKEN", ""),
    "RETENTION_DAYS": ("MICROLENS_RETENTION_DAYS", 7.0),
    "MAX_UPLOAD_MB": ("MICROLENS_MAX_UPLOAD_MB", 500.0),
    "MAX_DURATION_S": ("MICROLENS_MAX_DURATION_S", 1800.0),
    "MAX_QUEUE": ("MICROLENS_MAX_QUEUE", 50),
    "MODEL": ("MICROLENS_MODEL", "casme2"),
    "WORKERS": ("MICROLENS_WORKERS", 1),
    "ALLOWED_HOSTS": ("MICROLENS_ALLOWED_HOSTS", ""),
    "BIND_HOST": ("MICROLENS_BIND_HOST", ""),
}


def load_settings(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
                  ) -> Settings:
    """Settings from ``config`` keys, then environment variables, then defaults."""
    config = config or {}
    environ = os.environ if environ is None else environ

    def get(key: str) -> Any:
        var, default = _ENV[key]
        if key in config and config[key] is not None:
            value = config[key]
        elif environ.get(var):
            value = environ[var]
        else:
            value = default
        return type(default)(value)

    return Settings(
        data_dir=Path(get("DATA_DIR")).expanduser().resolve(),
        queue_url=get("QUEUE_URL"),
        api_token=get("API_TOKEN"),
        retention_days=get("RETENTION_DAYS"),
        max_upload_mb=get("MAX_UPLOAD_MB"),
        max_duration_s=get("MAX_DURATION_S"),
        max_queue=max(1, get("MAX_QUEUE")),
        model=get("MODEL"),
        workers=max(1, get("WORKERS")),
        allowed_hosts=get("ALLOWED_HOSTS"),
        bind_host=get("BIND_HOST"),
    )


def to_environ(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in a worker process."""
    return {
        "MICROLENS_DATA_DIR": str(settings.data_dir),
        "MICROLENS_QUEUE_URL": settings.queue_url,
        "MICROLENS_API_TOKEN": settings.api_token,
        "MICROLENS_RETENTION_DAYS": str(settings.retention_days),
        "MICROLENS_MAX_UPLOAD_MB": str(settings.max_upload_mb),
        "MICROLENS_MAX_DURATION_S": str(settings.max_duration_s),
        "MICROLENS_MAX_QUEUE": str(settings.max_queue),
        "MICROLENS_MODEL": settings.model,
        "MICROLENS_WORKERS": str(settings.workers),
        "MICROLENS_ALLOWED_HOSTS": settings.allowed_hosts,
        "MICROLENS_BIND_HOST": settings.bind_host,
    }

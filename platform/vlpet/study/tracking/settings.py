"""The study file's ``tracking`` section: which trackers a study logs its trials to, and where they write.

```yaml
tracking:
  mlflow: {tracking_uri: "sqlite:///mlflow.db", experiment: granularity}   # also artifact_location, log_adapter
  wandb: {project: vlpet, mode: offline}                                    # also entity, dir
```
Each class is frozen and validated on construction (every problem is a ConfigError naming the key path); its
field help is what ``vlpet validate`` and the docs show. Where the MLflow store is, is decided once the study's
directory is known (:func:`mlflow_store_uri`): a relative ``sqlite:///`` path and the default both lie in the
study directory, so ``vlpet resume`` from any working directory opens the study's own store.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from vlpet.checks import allowed, fail, mapping, no_unknown_keys
from vlpet.errors import ConfigError, show
from vlpet.study.store import is_uri

TRACKING_MODES = ("online", "offline")
MLFLOW_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "databricks-uc", "uc")
SQLITE = "sqlite:///"
STORE_FILE = "mlflow.db"             # the default store: STUDY_DIR/mlflow.db


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


def _keys(section: type) -> list[str]:
    return [f.name for f in dataclasses.fields(section)]


def _optional_text(key: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        fail(key, f"expected a non-empty string, got {show(value)}")


def _local_place(key: str, path: str) -> None:
    """A local place a tracker writes passes the study storage's checks (no system or credentials directories,
    not the checkout's code: vlpet.locations)."""
    from vlpet.locations import check_output_location

    check_output_location(path, key)


def _installed(key: str, module: str, package: str) -> None:
    """The tracker's package is importable here (checked without importing it)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        fail(key, f"needs the {package} package, which is not installed: pip install {package} "
             "(or pip install 'vlpet[tracking]')")


@dataclass(frozen=True)
class MlflowSpec:
    """``tracking.mlflow``: every trial as an MLflow run, logged from the study driver (vlpet.study.tracking)."""

    tracking_uri: str | None = _help("where the runs go: sqlite:///PATH/mlflow.db (a local store; a relative PATH "
                                     "lies in the study directory), http(s)://HOST (a tracking server), databricks, "
                                     "...; default: MLFLOW_TRACKING_URI, else STUDY_DIR/mlflow.db", None)
    experiment: str | None = _help("the MLflow experiment, created when missing (default: the study's name)", None)
    artifact_location: str | None = _help("where a new experiment keeps its artifacts (default: mlartifacts/ next "
                                          "to a sqlite store; the server's for a tracking server)", None)
    log_adapter: bool = _help("log each finished trial's adapter (as `vlpet adapter export` writes it) as its "
                              "run's artifact adapter/", True)

    def __post_init__(self) -> None:
        for key in ("tracking_uri", "experiment", "artifact_location"):
            _optional_text(f"tracking.mlflow.{key}", getattr(self, key))
        if not isinstance(self.log_adapter, bool):
            fail("tracking.mlflow.log_adapter", f"expected true or false, got {show(self.log_adapter)}")
        if self.tracking_uri is not None:
            _mlflow_uri(self.tracking_uri)
        _installed("tracking.mlflow", "mlflow", "mlflow-skinny")

    @classmethod
    def from_mapping(cls, raw: Any) -> "MlflowSpec":
        section = mapping("tracking.mlflow", raw)
        no_unknown_keys("tracking.mlflow", section, _keys(cls))
        return cls(**section)


def _mlflow_uri(uri: str) -> None:
    """A tracking URI MLflow 3 opens: a database or a server. Its file store (a plain path, ``file:``) is in
    maintenance mode and MLflow refuses it unless MLFLOW_ALLOW_FILE_STORE=true."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":                       # a local database file: a place vlpet may write to
        database = uri[len(SQLITE):].split("?", 1)[0]
        _local_place("tracking.mlflow.tracking_uri", database)
    if scheme in MLFLOW_SCHEMES:
        return
    if scheme in ("", "file") and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() == "true":
        return
    if scheme in ("", "file"):
        fail("tracking.mlflow.tracking_uri", f"{show(uri)} is MLflow's file store, which MLflow 3 refuses (it is in "
             "maintenance mode; MLFLOW_ALLOW_FILE_STORE=true forces it): use a local database such as "
             "sqlite:///runs/mlflow.db, or a tracking server http(s)://HOST:PORT")
    fail("tracking.mlflow.tracking_uri", f"{show(uri)}: unknown scheme {scheme!r}; allowed: "
         f"{', '.join(MLFLOW_SCHEMES)}")


@dataclass(frozen=True)
class WandbSpec:
    """``tracking.wandb``: every trial as a W&B run, through Ray Tune's WandbLoggerCallback (vlpet.study.tracking)."""

    project: str | None = _help("the W&B project (required)", None)
    mode: str = _help("online (needs WANDB_API_KEY or `wandb login`) | offline (runs kept under dir, to upload "
                      "later with `wandb sync`)", "online")
    entity: str | None = _help("the W&B user or team (default: your default entity)", None)
    dir: str | None = _help("where W&B keeps its local files (default: the study directory, or the working "
                            "directory for a cloud study)", None)

    def __post_init__(self) -> None:
        if self.project is None:
            fail("tracking.wandb.project", "required: the W&B project the study's runs go to")
        for key in ("project", "entity", "dir"):
            _optional_text(f"tracking.wandb.{key}", getattr(self, key))
        if self.dir is not None:
            _local_place("tracking.wandb.dir", self.dir.rstrip("/") + "/wandb")     # what W&B writes there
        allowed("tracking.wandb.mode", self.mode, TRACKING_MODES, heading="allowed")
        _installed("tracking.wandb", "wandb", "wandb")

    @classmethod
    def from_mapping(cls, raw: Any) -> "WandbSpec":
        section = mapping("tracking.wandb", raw)
        no_unknown_keys("tracking.wandb", section, _keys(cls))
        return cls(**section)


@dataclass(frozen=True)
class TrackingSpec:
    """``tracking``: experiment trackers the study logs every trial to (absent: none)."""

    mlflow: MlflowSpec | None = _help("MLflow: tracking_uri, experiment, artifact_location, log_adapter", None)
    wandb: WandbSpec | None = _help("Weights & Biases: project, mode, entity, dir", None)

    @classmethod
    def from_mapping(cls, raw: Any) -> "TrackingSpec":
        section = mapping("tracking", raw)
        no_unknown_keys("tracking", section, _keys(cls))
        # a key written without settings (``mlflow:``) means that tracker with its defaults
        return cls(mlflow=MlflowSpec.from_mapping(section["mlflow"]) if "mlflow" in section else None,
                   wandb=WandbSpec.from_mapping(section["wandb"]) if "wandb" in section else None)


def mlflow_store_uri(settings: MlflowSpec, study_dir: str) -> str:
    """The tracking URI a study's MLflow runs go to, the same for ``vlpet run`` and every ``vlpet resume`` from
    any working directory: ``tracking_uri`` as written, a relative ``sqlite:///PATH`` taken inside the study
    directory; without one ``MLFLOW_TRACKING_URI``, else ``sqlite:///STUDY_DIR/mlflow.db``. A cloud study (its
    directory a bucket) needs an absolute sqlite path, a server, or MLFLOW_TRACKING_URI: SQLite cannot write to
    a bucket. The database's place passes the study storage's checks (vlpet.locations)."""
    uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"{SQLITE}{STORE_FILE}"
    if not uri.startswith(SQLITE):
        return uri
    database, query = (uri[len(SQLITE):].split("?", 1) + [""])[:2]
    if not os.path.isabs(os.path.expanduser(database)):
        if is_uri(study_dir):
            key = "tracking.mlflow.tracking_uri" if settings.tracking_uri else "tracking.mlflow"
            raise ConfigError(f"{key}: the study directory {study_dir} is cloud storage, where SQLite cannot keep "
                              f"{database}: give tracking_uri as an absolute sqlite:////PATH or a tracking server "
                              "http(s)://HOST:PORT")
        database = os.path.join(study_dir, database)
    database = os.path.abspath(os.path.expanduser(database))
    _local_place("tracking.mlflow.tracking_uri", database)
    return f"{SQLITE}{database}" + (f"?{query}" if query else "")

"""Connection pools kept per process, for the Dagster storages that keep their connections open
(the embedded default's SQLite, `ct_assets/storage.py`, and the cluster's Postgres,
`ct_assets/cluster/storage.py`): a forked child drops the connections it inherited (SQLAlchemy's
`dispose(close=False)`) and opens its own, and a storage's pool closes with the storage."""

import contextlib
import functools
import os
import weakref
from collections.abc import Iterator

_engines: "weakref.WeakSet" = weakref.WeakSet()


def _drop_inherited_connections() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_drop_inherited_connections)


def track(engine):
    """Drop `engine`'s connections in a forked child (the child opens its own). Returns it."""
    _engines.add(engine)
    return engine


def _dispose(dispose, engine) -> None:
    """A storage's own `dispose` (what `DagsterInstance.dispose` calls), then its pool's."""
    dispose()
    engine.dispose()


def close_with(storage, engine) -> None:
    """Track the pool of a storage that is not ours to subclass (the cluster's Postgres
    storages): its connections are dropped in a forked child and closed when the storage is
    disposed or collected."""
    track(engine)
    # A process may create an instance per request (a code server does, per sensor tick): its
    # pool closes with it, not whenever the collector gets to it.
    storage.dispose = functools.partial(_dispose, storage.dispose, engine)
    weakref.finalize(storage, engine.dispose)


@contextlib.contextmanager
def transaction(engine) -> Iterator:
    """A connection of `engine`'s pool, in a transaction committed at the end of the block."""
    with engine.connect() as conn, conn.begin():
        yield conn

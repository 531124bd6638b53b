"""Run by the crash tests in a process of its own: materialize assets and SIGKILL this process
at a chosen point, as a machine failure would. The tests fork it from the run launcher's warm
forkserver (`in_child`), as the project's runs start; by hand:

    python -m ct_assets_tests.defs.kill_midway PARTITION ASSET[,ASSET] (write:TABLE | fit)

`write:TABLE` dies inside the warehouse transaction that replaces TABLE's partition, after the
delete and the insert and before the commit; `fit` dies in the middle of training;
`register:before` / `register:after` die just before / after the model version is registered.
"""

import os
import signal
import sys

import dagster as dg

from ct_assets.core import training, warehouse
from ct_assets.definitions import ASSETS, build_resources
from ct_assets.settings import Settings


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(partition: str, selection: str, point: str) -> None:
    if point.startswith("write:"):
        table, real = point.split(":", 1)[1], warehouse.replace_partitions

        def replace_then_die(conn, name, *args, **kwargs):
            written = real(conn, name, *args, **kwargs)
            if name == table:
                _die()
            return written

        warehouse.replace_partitions = replace_then_die
    elif point == "fit":
        training.fit = lambda *args, **kwargs: _die()
    elif point.startswith("register:"):
        import mlflow

        real_register = mlflow.register_model

        def register_around(*args, **kwargs):
            if point == "register:before":
                _die()
            version = real_register(*args, **kwargs)
            _die()
            return version

        mlflow.register_model = register_around
    # The test's own instance: assets read the decision log from it.
    with dg.DagsterInstance.from_config(os.environ["CT_TEST_INSTANCE"]) as instance:
        dg.materialize(ASSETS, selection=selection.split(","), partition_key=partition,
                       instance=instance, resources=build_resources(Settings.from_env()))


def in_child(env: dict[str, str], cwd: str, *args: str) -> None:
    """`main` in a forked process, with the environment and folder the test gives it (a
    forkserver's children inherit the server's)."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    main(*args)


if __name__ == "__main__":
    main(*sys.argv[1:])

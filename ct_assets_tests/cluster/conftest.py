import pytest

from ct_assets_tests.cluster.harness import running_cluster


@pytest.fixture(scope="package")
def cluster():
    """One local cluster for the package's tests (starting one costs ~30 s)."""
    with running_cluster() as harness:
        yield harness

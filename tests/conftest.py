"""Fixtures shared by the whole suite (helpers live in helpers.py), and
how the suite splits over pytest-xdist's workers: ``make test`` runs
``-n auto --dist loadfile`` (one worker per core; a file's tests on one
worker, so its module fixtures are built once).
"""

import os

import pytest
import torch
from helpers import SHARED_FIXTURE_FILES, kept_global_instances

from dfine_mm.datasets.synthetic import generate_synthetic_coco


def pytest_configure(config) -> None:
    """Under xdist each worker computes with its share of the CPU threads
    (two workers of two threads each would oversubscribe 2 cores)."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        torch.set_num_threads(max(1, torch.get_num_threads() // workers))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of :data:`SHARED_FIXTURE_FILES`
    as one unit (pytest 9 ignores the node ids ``--dist loadgroup``
    rewrites, so ``xdist_group`` marks do not group)."""
    if config.getvalue('dist') != 'loadfile':
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return SHARED_FIXTURE_FILES.get(path, path)

    return SharedFixtureFileScheduling(config, log)


@pytest.fixture(autouse=True)
def _keep_thread_count():
    """Tools run in-process set their own thread count (``--threads``);
    the next test starts with the worker's count again."""
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope='module')
def _isolate_module_global_instances():
    """A test file starts with the mmengine global instances (default
    scopes, visualizers, loggers) the files before it started with (see
    :func:`helpers.kept_global_instances`): a Runner or
    ``register_all_modules()`` leaves its scope current in mmengine's
    global ``DefaultScope``, and a registry build in a later file would
    look in that scope (found when the workers' file order put a file
    whose module fixture trains an mmengine Runner, leaving ``mmengine``
    current, before the optimizer-constructor tests). Set up before the
    file's other module fixtures (autouse first), torn down after them."""
    with kept_global_instances():
        yield


@pytest.fixture(autouse=True)
def _isolate_global_instances():
    """Each test starts with the mmengine global instances its file's
    fixtures left (the same, per test)."""
    with kept_global_instances():
        yield


@pytest.fixture(scope='session')
def synthetic_coco(tmp_path_factory):
    """A small synthetic data set: 24 train and 8 val images, 64 px, 5
    classes, seed 0. Returns its root directory."""
    root = tmp_path_factory.mktemp('synthetic_coco')
    generate_synthetic_coco(
        str(root), num_train=24, num_val=8, img_size=64, num_classes=5
    )
    return str(root)

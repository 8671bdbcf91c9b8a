"""Once started, the app takes what startup built out of the garbage collector's reach and
collects its young generation less often."""

from __future__ import annotations

import gc

from milestones.app import GC_YOUNG_THRESHOLD, create_app
from milestones.config import Settings


async def test_a_started_app_freezes_its_startup_heap(settings: Settings) -> None:
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    app = create_app(settings.model_copy(update={"gc_tuning": True}))
    try:
        async with app.router.lifespan_context(app):
            # The schema, the models, the routes: what was built before the first request.
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_tuning_is_a_setting(settings: Settings) -> None:
    assert not settings.gc_tuning  # the suite starts hundreds of apps in one process
    thresholds = gc.get_threshold()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds

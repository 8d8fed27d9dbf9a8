"""What an app process does once it has started (in a process of its own: freezing the heap is for good)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STARTS = textwrap.dedent(
    """
    import asyncio, gc, os
    from core.migrate import upgrade
    from core.settings import Settings
    from main import create_app

    async def main():
        url = os.environ["TI_DATABASE_URL"]
        upgrade(url)
        app = create_app(Settings(database_url=url, log_level="WARNING", _env_file=None))
        before = gc.get_freeze_count()
        async with app.router.lifespan_context(app):
            print(before, gc.get_freeze_count())

    asyncio.run(main())
    """
)


def _frozen_at_startup(freeze: str, tmp_path: Path) -> tuple[int, int]:
    env = {**os.environ, "TI_FREEZE_STARTUP_HEAP": freeze, "TI_DATA_KEY_FILE": str(tmp_path / "data.key")}
    env["TI_AUDIT_KEY_FILE"] = str(tmp_path / "audit.pem")
    env["TI_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / f'startup-{freeze}.db'}"
    done = subprocess.run(
        [sys.executable, "-c", STARTS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    before, after = done.stdout.split()[-2:]
    return int(before), int(after)


def test_a_started_app_moves_its_startup_heap_out_of_the_collectors_sight(tmp_path: Path) -> None:
    before, after = _frozen_at_startup("true", tmp_path)
    assert before == 0
    assert after > 100_000  # modules, routes, schemas: the bulk of the heap
    assert _frozen_at_startup("false", tmp_path) == (0, 0)

"""The pages' fixtures: an app with examples/ loaded (on SQLite and PostgreSQL), served on an
ephemeral port for the browser, and Debian's Chromium driven by Playwright.

Chromium comes from the system packages (`make test` installs the `chromium` package when
it is missing); Playwright never downloads a browser. Screenshots go to build/screenshots/
(gitignored), one per page and backend.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from .helpers import load_examples

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("FHIRSVC_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def loaded(app, runtime):
    """The module's app with examples/ loaded (once per backend)."""
    load_examples(runtime)
    return app


@pytest.fixture(scope="module")
def live_url(loaded):
    """The loaded app served by a real HTTP server on a free port, in a thread."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, loaded, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make test` installs Debian's "
                    "chromium package (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="module")
def backend(db_url) -> str:
    return db_url.split(":", 1)[0].split("+", 1)[0]


def screenshot(page, backend: str, name: str) -> Path:
    path = SCREENSHOTS / backend / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path

"""The web app end to end in a real browser: headless Chromium driven by Playwright, against a real
server on 127.0.0.1 running real stylizations.

Needs Debian's chromium at /usr/bin/chromium (``./dev.sh setup`` installs it) and the Python playwright
package (a dev dependency); Playwright never downloads a browser of its own here. Set
IMPASTO_SCREENSHOT=docs/app.png to keep the screenshot the README shows.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from impasto.core.runtime import cpu_has_fast_bf16
from impasto.web import Limits, Server

CHROMIUM = os.environ.get("IMPASTO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

try:
    from playwright.sync_api import Page, sync_playwright

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - the dev extra installs it
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not HAVE_PLAYWRIGHT or not Path(CHROMIUM).is_file(),
        reason="BROWSER TEST SKIPPED: no Chromium at /usr/bin/chromium or no playwright package; "
        "run ./dev.sh setup as root to install them",
    ),
]


@pytest.fixture
def server(serve: Callable[[Limits], Server]) -> Server:
    return serve(Limits(max_upload_bytes=5 * 2**20))


@pytest.fixture
def held() -> Iterator[threading.Event]:
    """Set it to let the optimizations of ``held_server`` go past their first step."""
    release = threading.Event()
    yield release
    release.set()  # before the server is shut down: its worker must not wait for it


@pytest.fixture
def held_server(serve: Callable[..., Server], held: threading.Event) -> Server:
    """A server whose runs stop at their first step until ``held`` is set: what the page shows before
    the optimization's first picture is then there to be seen, however fast the machine."""
    from impasto.pipeline import stylize_detailed

    def stylize(*args: Any, callback: Callable[[Any], None], **kwargs: Any) -> Any:
        def hold(progress: Any) -> None:
            held.wait(120)
            callback(progress)

        return stylize_detailed(*args, callback=hold, **kwargs)

    return serve(Limits(max_upload_bytes=5 * 2**20), stylize=stylize)


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        context.close()
        browser.close()


def wait_for(page: Page, expression: str, timeout: float = 60) -> None:
    """Wait until ``expression`` (JavaScript) is true in the page. Playwright's wait_for_function
    compiles its expression inside the page, which the page's Content-Security-Policy (no eval)
    forbids; page.evaluate is not subject to it."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(50)


def set_range(page: Page, selector: str, value: str) -> None:
    page.eval_on_selector(
        selector, "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", value
    )


def choose_examples(page: Page, size: str = "64", iterations: str | None = None) -> None:
    """The bundled photo and painting chosen, the size set, and the iterations if given."""
    page.click("#content-examples button")
    page.click("#style-examples button")
    set_range(page, "#size", size)
    if iterations is not None:
        page.fill("#iterations", iterations)


def preview_version(page: Page) -> int:
    return int(page.get_attribute("#preview", "data-version") or 0)


def test_upload_start_watch_finish_download(
    held_server: Server,
    held: threading.Event,
    page: Page,
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
) -> None:
    server = held_server
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    page.set_input_files("#content-file", str(content_path))
    wait_for(page, "document.getElementById('content-name').textContent.includes('chelsea.png')")
    page.set_input_files("#style-file", str(style_path))
    page.wait_for_selector("#styles li.style")
    set_range(page, "#size", "128")
    page.fill("#iterations", "40")
    page.click("#start")

    # The quick sketch shows before the optimization reports its first step (held there), labelled.
    page.wait_for_selector("#sketch-label", state="visible")
    wait_for(
        page,
        "(() => { const p = document.getElementById('preview'); "
        "return p.dataset.sketch === 'true' && p.complete && p.naturalWidth > 0; })()",
    )
    assert page.is_visible("#preview") and (page.get_attribute("#preview", "src") or "").endswith("/sketch")
    assert page.eval_on_selector("#preview", "e => e.naturalWidth") == 128  # the output's size
    assert "Quick sketch" in page.inner_text("#sketch-label")
    assert "on its way" in page.inner_text("#sketch-label")
    assert "Iteration" not in page.inner_text("#status")
    held.set()

    # The run's first picture replaces it; the preview changes at least twice while the run goes on.
    wait_for(page, "document.getElementById('preview').dataset.sketch === 'false'")
    assert page.is_hidden("#sketch-label")
    first = page.get_attribute("#preview", "src")
    wait_for(page, "Number(document.getElementById('preview').dataset.version || 0) >= 4")
    assert page.get_attribute("#preview", "src") != first
    assert page.eval_on_selector("#progress", "e => e.value") > 0
    assert "Iteration" in page.inner_text("#status") or "Done" in page.inner_text("#status")

    page.wait_for_selector("#finished", state="visible", timeout=120_000)
    assert "Done" in page.inner_text("#status")
    # The result replaces the preview in a before/after view: wait for it to load, then slide.
    wait_for(
        page,
        "(() => { const p = document.getElementById('compare-after'); "
        "return p.complete && p.naturalWidth > 0; })()",
    )
    assert page.eval_on_selector("#compare-after", "e => e.naturalWidth") == 128
    assert page.is_visible("#compare") and page.is_hidden("#preview")
    set_range(page, "#compare-slider", "80")
    assert page.eval_on_selector("#compare-after", "e => e.style.clipPath") == "inset(0px 0px 0px 80%)"
    set_range(page, "#compare-slider", "45")
    assert page.is_visible("#curve")
    assert (
        page.inner_text("#command")
        == "impasto chelsea.png swirls.png -o chelsea-in-swirls-128px.png --size 128 --iterations 40 "
        "--device cpu"
    )
    screenshot = Path(os.environ.get("IMPASTO_SCREENSHOT") or tmp_path / "app.png")
    page.screenshot(path=str(screenshot), full_page=True)
    with Image.open(screenshot) as opened:
        assert opened.size[0] == 1280

    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "download.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as image:
        image.load()
        assert image.format == "PNG" and image.size == (128, 85)

    # A picture impasto made, dropped in as the photo, offers the settings it was made with.
    page.set_input_files("#content-file", str(saved))
    page.wait_for_selector("#content-made-with", state="visible")
    page.fill("#iterations", "7")
    page.click("#content-made-with-use")
    assert page.input_value("#iterations") == "40" and page.input_value("#size") == "128"
    assert page.is_hidden("#content-made-with")

    # After a reload, "Use these settings" shows the uploaded photo and painting again (it showed the
    # favicon), in the cards and the before/after slider.
    page.reload()
    page.wait_for_selector("#history li .again")
    page.click("#history li .again")
    loaded = "(e) => e.complete && e.naturalWidth > 0"
    wait_for(page, f"({loaded})(document.getElementById('content-thumb'))")
    assert "/api/uploads/" in (page.get_attribute("#content-thumb", "src") or "")
    assert page.eval_on_selector("#styles li.style img", loaded)


def test_stop_keeps_the_image_and_errors_show_in_the_page(server: Server, page: Page, tmp_path: Path) -> None:
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    not_an_image = tmp_path / "holiday.jpg"
    not_an_image.write_text("this is a text file")
    page.set_input_files("#content-file", str(not_an_image))
    page.wait_for_selector("#content-error", state="visible")  # beside the content, not far below
    assert "not an image" in page.inner_text("#content-error")

    choose_examples(page, iterations="2000")
    page.click("#start")
    wait_for(page, "Number(document.getElementById('preview').dataset.version || 0) >= 1")
    page.click("#stop")
    page.wait_for_selector("#finished", state="visible")
    assert "Stopped" in page.inner_text("#status")
    assert page.is_hidden("#error")
    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "stopped.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as opened:
        assert opened.size == (64, 43)


def test_sketch_only_shows_a_downloadable_sketch_or_says_why_not(
    server: Server, page: Page, tmp_path: Path
) -> None:
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    choose_examples(page)
    page.click("#sketch-only")
    page.wait_for_selector("#finished", state="visible")
    assert "Quick sketch made" in page.inner_text("#status")
    assert page.is_visible("#sketch-label") and "Start paints it" in page.inner_text("#sketch-label")
    assert page.is_visible("#compare")
    assert page.inner_text("#command").startswith("impasto preview ")  # the sketch's own command
    assert page.is_disabled("#stop") and page.is_enabled("#start") and page.is_hidden("#error")
    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "sketch.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as opened:
        assert opened.size == (64, 43)

    # Without the network (here: as if it failed to load), the button says why, on the page.
    server.app.sketcher.unavailable = "onnxruntime is not installed (pip install onnxruntime)"
    page.click("#sketch-only")
    page.wait_for_selector("#error", state="visible")
    assert "quick sketch is not available on this server: onnxruntime" in page.inner_text("#error")
    assert page.is_enabled("#sketch-only") and page.is_enabled("#start")


VISIBLE_IMAGES_LOADED = """() => [...document.images]
    .filter((i) => i.offsetParent !== null)
    .every((i) => i.complete && i.naturalWidth > 0)"""


def drop_or_paste(page: Page, event: str, target: str, path: Path) -> None:
    """Drop ``path`` on the element ``target`` (event "drop"), or paste it into the page ("paste")."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate(
        """([event, target, data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const init = { bubbles: true, cancelable: true };
            const made = event === "drop"
                ? new DragEvent("drop", { ...init, dataTransfer: transfer })
                : new ClipboardEvent("paste", { ...init, clipboardData: transfer });
            document.querySelector(target).dispatchEvent(made);
        }""",
        [event, target, data, path.name],
    )


def test_first_load_drop_paste_and_examples(
    server: Server, page: Page, content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    """On first load nothing unset shows (no broken image, no empty box); a photo dropped on the
    content card becomes the content, a pasted image a style; an example style clicked twice is
    listed once. Screenshots at desktop and phone width (IMPASTO_SCREENSHOT=docs/app.png keeps them)."""
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    wait_for(page, f"({VISIBLE_IMAGES_LOADED})()")
    for hidden in ("#content-thumb", "#preview", "#curve", "#error", "#compare", "#finished"):
        assert page.is_hidden(hidden), hidden
    assert page.locator("#content-examples img").count() == 1  # a thumbnail, not just a name

    drop_or_paste(page, "drop", "#content-card", content_path)
    wait_for(page, "document.getElementById('content-name').textContent.includes('chelsea.png')")
    assert page.is_visible("#content-thumb")
    drop_or_paste(page, "paste", "body", style_path)
    page.wait_for_selector("#styles li.style")
    page.click("#style-examples button")
    page.click("#style-examples button")
    assert page.locator("#styles li.style").count() == 2  # the pasted one and the example, once
    assert "already a style" in page.inner_text("#style-error")
    wait_for(page, f"({VISIBLE_IMAGES_LOADED})()")

    desktop = Path(os.environ.get("IMPASTO_SCREENSHOT") or tmp_path / "app.png")
    page.set_viewport_size({"width": 390, "height": 844})
    phone = desktop.with_name(desktop.stem + "-phone" + desktop.suffix)
    page.screenshot(path=str(phone), full_page=True)
    with Image.open(phone) as opened:
        assert opened.size[0] == 390


def test_the_page_remembers_settings_and_results_and_offers_what_the_device_has(
    server: Server, page: Page, tmp_path: Path
) -> None:
    """Settings survive a reload; a finished result is listed with its settings (reused with one
    click, downloaded under a name that says what it is); a GPU server offers a GPU's defaults."""
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_hidden("#history-card") and page.is_hidden("#seed-label")  # photo start: no seed
    assert page.input_value("#size") == "384"  # this server's device is the CPU
    # Every setting of the option table has its control: drawn, or the page's own slider.
    for name in page.evaluate("state.setup.settings.map((s) => s.name)"):
        assert page.locator(f"#{name}, [data-option={name}]").count() == 1, name
    assert page.input_value("#iterations") == "40" and page.input_value("#preserve_colors") == "none"
    assert page.is_checked("#multiscale")
    # bf16 is offered on a CPU with bf16 units (AVX512_BF16 or AMX) and on no other: this machine's.
    offered = page.eval_on_selector("#precision", "e => [...e.options].map((o) => o.value)")
    assert ("bf16" in offered) == cpu_has_fast_bf16(), offered
    choose_examples(page, iterations="3")
    page.dispatch_event("#iterations", "change")
    set_range(page, "#strength", "2")
    assert "more painting" in page.inner_text("#strength-value")
    page.click("#start")
    page.wait_for_selector("#finished", state="visible", timeout=120_000)
    page.wait_for_selector("#history li")
    assert page.get_attribute("#download", "download") == "chelsea-in-swirls-64px.png"

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#size") == "64" and page.input_value("#iterations") == "3"
    assert page.input_value("#strength") == "2"
    page.wait_for_selector("#history li")  # the session's results are still there
    assert "chelsea-in-swirls-64px.png" in page.inner_text("#history")
    page.click("#advanced summary")
    page.click("#reset-settings")
    assert page.input_value("#iterations") == "40" and page.input_value("#size") == "384"
    page.click("#history li .again")
    assert page.input_value("#iterations") == "3" and page.input_value("#size") == "64"
    assert "chelsea.png" in page.inner_text("#content-name")
    assert page.locator("#styles li.style").count() == 1
    with page.expect_download() as download_info:
        page.click("#history li a")
    assert download_info.value.suggested_filename == "chelsea-in-swirls-64px.png"

    # The same page on a GPU server (the device faked in the setup it sends).
    server.app._device_kind = "cuda"
    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#size") == "768" and page.input_value("#iterations") == "500"
    assert {"tf32", "bf16", "fp16"} <= set(
        page.eval_on_selector("#precision", "e => [...e.options].map((o) => o.value)")
    )
    page.click("#advanced summary")
    assert page.is_hidden("#seed-label")
    page.select_option("#init", "noise")
    assert page.is_visible("#seed-label")


def test_a_restarted_server_keeps_the_history_and_its_pictures(
    serve: Callable[..., Server], page: Page, content_path: Path, tmp_path: Path
) -> None:
    """``serve --outputs``: after a restart the page lists the result, "Use these settings" shows the
    photo it was made from (an upload, kept in the folder by content), and Delete removes the file."""
    kept = tmp_path / "kept"
    first = serve(Limits(), outputs=kept)
    page.goto(first.url)
    page.wait_for_selector("body[data-ready=true]")
    page.set_input_files("#content-file", str(content_path))
    wait_for(page, "document.getElementById('content-name').textContent.includes('chelsea.png')")
    page.click("#style-examples button")
    set_range(page, "#size", "64")
    page.fill("#iterations", "3")
    page.click("#start")
    page.wait_for_selector("#finished", state="visible", timeout=120_000)
    first.stop()

    second = serve(Limits(), outputs=kept)
    page.evaluate("localStorage.clear()")
    page.goto(second.url)
    page.wait_for_selector("#history li .again")
    assert "chelsea-in-swirls-64px.png" in page.inner_text("#history")
    loaded = "(e) => e.complete && e.naturalWidth > 0"
    wait_for(page, f"({loaded})(document.querySelector('#history li img'))")
    page.click("#history li .again")
    assert page.input_value("#size") == "64" and page.input_value("#iterations") == "3"
    wait_for(page, f"({loaded})(document.getElementById('content-thumb'))")
    assert "/api/uploads/kept%3A" in (page.get_attribute("#content-thumb", "src") or "")
    assert "chelsea.png" in page.inner_text("#content-name")
    assert page.eval_on_selector("#styles li.style img", loaded)
    page.click("#history li .delete")
    page.wait_for_selector("#history-card", state="hidden")
    assert list(kept.glob("*.png")) == []


def test_every_tab_shows_the_browsers_queue_and_stops_any_job_in_it(
    held_server: Server, held: threading.Event, page: Page
) -> None:
    """Two tabs of one browser (one session) each start a job: both tabs list both, in order, the
    first running and the second waiting; a Stop in one tab stops the other tab's job, which says so."""
    second = page.context.new_page()
    for tab in (page, second):
        tab.goto(held_server.url)
        tab.wait_for_selector("body[data-ready=true]")
        choose_examples(tab, iterations="3")
    page.click("#start")
    wait_for(page, "document.querySelectorAll('#queue li').length === 1")
    second.click("#start")
    for tab in (page, second):
        wait_for(tab, "document.querySelectorAll('#queue li').length === 2")
    first_line, second_line = page.locator("#queue li").all_inner_texts()
    assert "running" in first_line and "this tab" in first_line, first_line
    assert "waiting, next" in second_line and "this tab" not in second_line, second_line
    assert "this tab" in second.locator("#queue li").all_inner_texts()[1]

    page.click("#queue li:nth-child(2) .stop-job")  # the second tab's job, from the first tab
    wait_for(second, "document.getElementById('status').textContent.startsWith('Stopped')")
    assert "stopped before it started" in second.inner_text("#status")
    for tab in (page, second):
        wait_for(tab, "document.querySelectorAll('#queue li').length === 1")
    held.set()
    page.wait_for_selector("#finished", state="visible", timeout=120_000)
    for tab in (page, second):
        wait_for(tab, "document.getElementById('queue-card').hidden")
    second.close()


def test_a_mask_drawn_in_the_page_puts_a_style_where_it_was_painted(
    server: Server, page: Page, tmp_path: Path, content_path: Path, style_path: Path
) -> None:
    """Two styles; the first one's mask painted over the left half of the photo: the run takes it
    (its command names the mask), and a mask file can be given instead."""
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    page.click("#content-examples button")
    page.click("#style-examples button")
    blue = tmp_path / "blue.png"
    Image.new("RGB", (64, 64), (20, 40, 220)).save(blue)
    page.set_input_files("#style-file", str(blue))
    wait_for(page, "document.querySelectorAll('#styles li.style').length === 2")
    page.click("#styles li.style >> nth=0 >> .draw-mask")
    page.wait_for_selector("#mask-editor", state="visible")
    wait_for(page, "document.getElementById('mask-canvas').width === 512")
    box = page.locator("#mask-canvas").bounding_box()
    assert box is not None
    set_range(page, "#mask-brush", "120")
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    for step in range(0, 21):
        page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * step / 20)
    page.mouse.up()
    page.click("#mask-done")
    page.wait_for_selector("#styles li.style >> nth=0 >> .mask img", state="visible")
    assert page.is_hidden("#mask-editor")
    set_range(page, "#size", "64")
    page.fill("#iterations", "2")
    page.click("#start")
    page.wait_for_selector("#finished", state="visible", timeout=120_000)
    assert "Done" in page.inner_text("#status"), page.inner_text("#status")
    assert "--content-mask mask-swirls.png" in page.inner_text("#command")
    sizes = {}
    for path in server.app.folder.glob("*/*"):
        with Image.open(path) as opened:
            sizes[path] = opened.size
    masks = [path for path, size in sizes.items() if size == (512, 341)]
    assert masks, "the drawn mask was uploaded at the canvas's size"
    with Image.open(masks[0]) as opened:
        grey = opened.convert("L")
    painted, untouched = grey.getpixel((128, 170)), grey.getpixel((450, 170))
    assert isinstance(painted, int) and isinstance(untouched, int)
    assert painted > 200 and untouched < 50  # painted on the left, not on the right

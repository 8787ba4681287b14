"""The web app at / in a real browser: headless Debian chromium, driven by
Selenium through Debian's chromedriver, checked by axe-core 4.12.

    webapp.py states URL SHOTS          every state (empty, described, text
                                        read, refused, error), light and
                                        dark, at 390 and 320 CSS pixels:
                                        axe finds nothing, PNGs in SHOTS
    webapp.py keyboard URL              the whole flow with Tab, Enter and
                                        Space only
    webapp.py token URL TOKEN SHOTS     a server with an API token: asked
                                        once, kept on the device, never in
                                        an address
    webapp.py limits URL LIMIT SHOTS    a server taking at most LIMIT bytes:
                                        a larger photo is made smaller, one
                                        that cannot be is refused clearly
    webapp.py latency URL RUNS PHOTO    from photo chosen to the description
                                        in the live region, warm: p50 and
                                        more, as JSON
    webapp.py assist URL HELPER SHOTS   asking a person, two browsers: the
                                        asker's / and the helper's /review
                                        (token HELPER), live both ways; the
                                        offer, waiting, a reload, answered,
                                        cancelled; /review empty, with a
                                        question, after sending; axe in each
    webapp.py expiry URL HELPER SHOTS   a server whose answer_timeout is a
                                        few seconds: nobody answers, the
                                        asker is told, asks again, cancels
    webapp.py assist-keyboard URL HELPER
                                        ask and answer with Tab, Enter,
                                        Space, arrows and typing only

Prints one JSON line with what it saw; exits 1 with the reason otherwise.
Selenium and axe-playwright-python (for its axe.min.js) come from
Tests/Compatibility/requirements.txt, which scripts/setup installs into
.cache/python; chromium and chromium-driver from Debian.
"""
import base64
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

# Selenium's driver manager otherwise reports usage over the internet.
os.environ["SE_AVOID_STATS"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGES = ROOT / "Tests/Fixtures/images"
QUALITY = ROOT / "Tests/Fixtures/quality"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# A phone (an iPhone 12 to 15's CSS width), and 400 % zoom of a 1280 by
# 1024 window: the width WCAG's reflow criterion names.
PHONE = {"width": 390, "height": 844, "mobile": True}
ZOOMED = {"width": 320, "height": 256, "mobile": False}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def axe_source():
    import axe_playwright_python

    return (pathlib.Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=390,844",
        "--autoplay-policy=no-user-gesture-required",
        "--lang=en-GB",
    ]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(60)
    return driver


class Page:
    """The app in one browser, with the checks every test shares."""

    def __init__(self, url, path=""):
        self.url = url.rstrip("/") + "/" + path
        self.driver = browser()
        self.axe = axe_source()
        self.size(PHONE)

    def close(self):
        self.driver.quit()

    def size(self, size, scheme="light"):
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": size["width"], "height": size["height"], "deviceScaleFactor": 1, "mobile": size["mobile"]},
        )
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
        )

    def open(self, clear=True):
        self.driver.get(self.url)
        if clear:
            self.driver.execute_script("localStorage.clear()")
            self.driver.get(self.url)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        # The voices arrive (or the token is asked for) once the module ran.
        self.wait(
            lambda d: d.execute_script(
                "return document.getElementById('voice').options.length > 1"
                " || !document.getElementById('token-section').hidden"
            )
        )

    def wait(self, condition, timeout=60, message="timed out"):
        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except Exception as error:
            raise Failure(f"{message}: {error.__class__.__name__}; page state {self.state()}") from None

    def js(self, script, *arguments):
        return self.driver.execute_script(script, *arguments)

    def state(self):
        return self.js("return document.body.dataset.state")

    def text(self, element_id):
        return self.js(f"return document.getElementById('{element_id}').innerText.trim()")

    def choose(self, path, input_id="file-input"):
        """What the phone's picker does: the file lands in the input."""
        self.driver.find_element(By.ID, input_id).send_keys(str(path))

    def describe(self, path, expect, input_id="file-input"):
        self.choose(path, input_id)
        self.wait(lambda d: self.state() == expect, message=f"{path.name} did not end {expect}")

    def axe_check(self, label):
        if not self.js("return typeof window.axe === 'object'"):
            self.js(self.axe)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
            ".then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))}),"
            " e => done({error: String(e)}))",
            AXE_TAGS,
        )
        check("error" not in result, f"axe failed on {label}: {result.get('error')}")
        check(not result["violations"], f"axe violations on {label}: {json.dumps(result['violations'])}")
        return label

    def no_horizontal_scroll(self, label):
        widths = self.js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        check(widths[0] <= widths[1], f"{label} scrolls sideways: content {widths[0]} px in {widths[1]} px")

    def screenshot(self, folder, name):
        """The whole page, not only the viewport, as a phone would scroll it."""
        if not folder:
            return None
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        height = int(metrics["cssContentSize"]["height"])
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": int(metrics["cssContentSize"]["width"]), "height": height, "scale": 1},
            },
        )
        path = pathlib.Path(folder) / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path.name


def every_view(page, folder, name, extra_check=None):
    """axe, no sideways scrolling and a screenshot, light and dark, phone and zoomed."""
    seen = []
    for scheme in ["light", "dark"]:
        for label, size in [("390", PHONE), ("320", ZOOMED)]:
            page.size(size, scheme)
            view = f"{name}-{label}-{scheme}"
            page.axe_check(view)
            page.no_horizontal_scroll(view)
            if extra_check:
                extra_check(view)
            page.screenshot(folder, view)
            seen.append(view)
    page.size(PHONE)
    return seen


def states(url, folder):
    page = Page(url)
    checked = []
    try:
        page.open()
        check(page.state() == "empty", f"a new page is {page.state()}")
        # A server without helpers: asking a person is never offered.
        page.wait(lambda d: page.js("return document.body.dataset.assist") == "off", message="GET /v1/assist was not asked")
        check("No photo yet" in page.text("description"), "the empty page does not say what to do")
        checked += every_view(page, folder, "empty")

        page.describe(IMAGES / "dog.jpg", "described")
        described = page.text("description")
        check(described.startswith("A dog"), f"dog.jpg was described as {described!r}")
        live = page.js("return document.getElementById('description').getAttribute('aria-live')")
        check(live == "polite", "the description is not in a live region")
        check(page.text("recent").count("Show again") == 1, "the description is not among the recent ones")
        checked += every_view(page, folder, "described")

        page.describe(IMAGES / "page.png", "described")
        page.js("document.getElementById('read-text').click()")
        text = page.text("all-text")
        check(text.startswith("Region-based segmentation"), f"Read all text showed {text[:60]!r}")
        checked += every_view(page, folder, "text")

        page.describe(QUALITY / "dog_dark.jpg", "refused")
        refused = page.text("description")
        check("too dark" in refused and "take the photo again" in refused, f"the refusal says {refused!r}")
        check(page.js("return document.getElementById('more-detail').hidden"), "More detail is offered for an unusable photo")
        check(page.js("return document.getElementById('ask-person').hidden"), "Ask a person is offered by a server without helpers")
        check("ask a person" not in refused.lower(), f"a server without helpers offers a person: {refused!r}")
        checked += every_view(page, folder, "refused")

        page.describe(ROOT / "Package.swift", "error")
        error = page.text("error")
        check(
            error == "That file cannot be described. The file is text, not a picture. Choose a photo in JPEG or PNG.",
            f"the error says {error!r}",
        )
        check(page.js("return document.getElementById('error').getAttribute('role')") == "alert", "the error is not an alert")
        check(page.text("description") == "", "a failed photo leaves an old description shown")
        checked += every_view(page, folder, "error")
    finally:
        page.close()
    print(json.dumps({"checked": checked}))


def focused(page):
    return page.js(
        "const e = document.activeElement;"
        "return e.id || (e.tagName + ':' + (e.innerText || '').trim().split('\\n')[0]);"
    )


def keyboard(url):
    """Tab, Enter and Space only; the file is put in the input as the phone's
    picker would, after Enter on the button opened it."""
    page = Page(url)
    walk = []
    try:
        page.open()
        page.js(
            "window.pickerOpened = [];"
            "for (const id of ['camera-input', 'file-input'])"
            "  document.getElementById(id).addEventListener('click', e => { pickerOpened.push(id); e.preventDefault(); });"
        )
        keys = ActionChains(page.driver)

        def press(key, expect=None):
            keys.send_keys(key).perform()
            where = focused(page)
            walk.append(where)
            if expect:
                check(where == expect, f"focus went to {where}, expected {expect}; walk so far {walk}")
            outline = page.js("return getComputedStyle(document.activeElement).outlineStyle")
            check(outline not in ("none", ""), f"{where} shows no focus indicator; walk so far {walk}")
            return where

        # The first key goes to the page itself, as it would on a phone's
        # keyboard or a switch once the page is open.
        page.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        walk.append(focused(page))
        check(walk[-1] == "A:Skip to the description", f"the first Tab went to {walk[-1]}")
        press(Keys.TAB, "take-photo")
        press(Keys.ENTER)
        check(page.js("return pickerOpened") == ["camera-input"], "Enter on Take a photo did not open the camera")
        page.choose(IMAGES / "dog.jpg", "camera-input")
        page.wait(lambda d: page.state() == "described", message="dog.jpg was not described")
        check(focused(page) == "take-photo", "describing moved the focus")
        first = page.text("description")
        check(first.startswith("A dog"), f"the live region says {first!r}")

        press(Keys.TAB, "choose-photo")
        press(Keys.TAB, "speak")
        press(Keys.TAB, "repeat")
        press(Keys.TAB, "more-detail")
        # The button hides while the photo is described again: the focus
        # goes to the description's heading, not to the page.
        press(Keys.ENTER, "description-heading")
        page.wait(lambda d: "The dog is on the left" in page.text("description"), message="More detail did not describe")
        check(page.js("return document.getElementById('more-detail').hidden"), "More detail is still offered")

        # Back to Choose a photo: Shift+Tab is still the keyboard alone.
        keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        check(focused(page) == "choose-photo", f"Shift+Tab went to {focused(page)}")
        press(Keys.SPACE)
        check(page.js("return pickerOpened") == ["camera-input", "file-input"], "Space on Choose a photo did not open the picker")
        page.choose(IMAGES / "page.png")
        page.wait(lambda d: page.text("description").startswith("Text: Region-based"), message="page.png was not described")

        press(Keys.TAB, "speak")
        press(Keys.TAB, "repeat")
        press(Keys.TAB, "more-detail")
        press(Keys.TAB, "read-text")
        press(Keys.ENTER, "all-text")
        check(page.text("all-text").startswith("Region-based segmentation"), "Read all text showed nothing")

        # Repeat empties and refills the live region, so it is announced again.
        keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).send_keys(Keys.TAB).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        check(focused(page) == "repeat", f"Shift+Tab went to {focused(page)}")
        page.js(
            "window.liveChanges = [];"
            "new MutationObserver(() => liveChanges.push(document.getElementById('description').innerText))"
            ".observe(document.getElementById('description'), {childList: true, subtree: true, characterData: true});"
        )
        press(Keys.SPACE)
        page.wait(lambda d: len(page.js("return liveChanges")) >= 2, message="Repeat did not refill the live region")
        changes = page.js("return liveChanges")
        check(changes[0] == "" and changes[-1].startswith("Text: Region-based"), f"Repeat changed the region as {changes}")

        for expected in ["more-detail", "read-text"]:
            press(Keys.TAB, expected)
        recent = press(Keys.TAB)
        check(recent.startswith("BUTTON:Show again"), f"after the result's buttons came {recent}")
        press(Keys.ENTER, "description-heading")
        check(page.text("description").startswith("The photo is") or "Region-based" in page.text("description"), "Show again showed nothing")

        # On through the result's buttons and the recent ones to the settings.
        for _ in range(20):
            where = press(Keys.TAB)
            if where == "clear-recent":
                break
            check(
                where.startswith("BUTTON:Show again") or where in ("speak", "repeat", "more-detail", "read-text"),
                f"unexpected stop on the way to the settings: {where}",
            )
        check(focused(page) == "clear-recent", "Tab never reached Clear recent descriptions")
        press(Keys.TAB, "auto-speak")
        press(Keys.SPACE, "auto-speak")
        saved = json.loads(page.js("return localStorage.getItem('describer.settings')"))
        check(saved["autoSpeak"] is True, "Space on the checkbox did not turn speaking on")
        press(Keys.TAB, "voice")
        press(Keys.TAB, "rate")
        press(Keys.TAB, "verbosity")

        # With speaking on, Repeat speaks in the server's voice.
        for _ in range(60):
            if focused(page) == "repeat":
                break
            keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        check(focused(page) == "repeat", "Shift+Tab never reached Repeat")
        page.js("performance.clearResourceTimings()")
        press(Keys.ENTER, "repeat")
        page.wait(
            lambda d: page.js("return performance.getEntriesByType('resource').some(e => e.name.includes('/v1/speak'))"),
            message="Repeat with speaking on asked for no speech",
        )
        page.wait(lambda d: page.js("return document.body.dataset.speech === 'playing'"), message="the speech did not play")
    finally:
        page.close()
    print(json.dumps({"walk": walk}))


def token(url, secret, folder):
    page = Page(url)
    checked = []
    try:
        page.open()
        check(not page.js("return document.getElementById('token-section').hidden"), "the token was not asked for")
        checked += every_view(page, folder, "token")

        field = page.driver.find_element(By.ID, "token-input")
        field.send_keys("not-the-token-0123456789")
        field.send_keys(Keys.ENTER)
        page.wait(lambda d: "was not accepted" in page.text("token-error"), message="a wrong token was not refused")
        check(focused(page) == "token-input", "after a wrong token the focus left the field")
        check(page.js("return localStorage.getItem('describer.token')") is None, "a wrong token was kept")
        checked += every_view(page, folder, "token-refused")

        field.clear()
        field.send_keys(secret + Keys.ENTER)
        page.wait(lambda d: page.js("return document.getElementById('token-section').hidden"), message="the right token was refused")
        page.describe(IMAGES / "dog.jpg", "described")
        check(page.js("return localStorage.getItem('describer.token')") == secret, "the token is not kept on the device")

        # Kept: a new visit describes without asking.
        page.open(clear=False)
        check(page.js("return document.getElementById('token-section').hidden"), "the token was asked for again")
        page.describe(IMAGES / "dog.jpg", "described")

        addresses = page.js("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
        check(not any(secret in address for address in addresses), f"the token is in an address: {addresses}")

        # A token the server no longer takes: the photo waits, the token is asked again, the photo is described.
        page.js("localStorage.setItem('describer.token', 'an-old-token-0123456789')")
        page.choose(IMAGES / "person.jpg")
        page.wait(lambda d: not page.js("return document.getElementById('token-section').hidden"), message="a 401 did not ask")
        check(focused(page) == "token-input", "the token field did not get the focus")
        check("was not accepted" in page.text("token-explanation"), "the refusal is not explained")
        page.axe_check("token-refused-while-describing")
        page.driver.find_element(By.ID, "token-input").send_keys(secret + Keys.ENTER)
        page.wait(lambda d: page.state() == "described", message="the photo was not described after the token")
        checked.append("token-refused-while-describing")
    finally:
        page.close()
    print(json.dumps({"checked": checked}))


def limits(url, limit, folder):
    limit = int(limit)
    from PIL import Image

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="webapp-limits-"))
    large = scratch / "dog.png"
    Image.open(IMAGES / "dog.jpg").save(large)
    check(large.stat().st_size > limit, f"{large} is not over the limit")
    noise = scratch / "noise.jpg"
    noise.write_bytes(os.urandom(limit + 1))
    page = Page(url)
    checked = []
    try:
        page.open()
        check(int(page.js("return document.querySelector('meta[name=describer-max-upload-bytes]').content")) == limit, "the page does not know the limit")

        page.js(
            "window.statusSeen = [];"
            "new MutationObserver(() => statusSeen.push(document.getElementById('status').textContent))"
            ".observe(document.getElementById('status'), {childList: true, subtree: true, characterData: true});"
        )
        page.describe(large, "described")
        # Drawn again as a JPEG, the dog may be named less surely; it is still a dog.
        check("dog" in page.text("description"), f"the smaller photo was described as {page.text('description')!r}")
        said = page.js("return statusSeen")
        check(any("so it was made smaller" in text for text in said), f"the status said {said}")
        sent = page.js("return performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/describe')).length")
        check(sent == 1, "the large photo was not sent once, made smaller")

        page.js("performance.clearResourceTimings()")
        page.describe(noise, "error")
        error = page.text("error")
        check("and the server takes photos up to" in error and "choose a smaller photo" in error, f"the error says {error!r}")
        sent = page.js("return performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/describe')).length")
        check(sent == 0, "a photo over the limit was sent anyway")
        checked += every_view(page, folder, "too-large")
    finally:
        page.close()
    print(json.dumps({"checked": checked, "error": error}))


def latency(url, runs, photo):
    """Warm: a few photos first, then RUNS timed ones, each from the input's
    change event to the description in the live region (the app's marks)."""
    runs = int(runs)
    photo = pathlib.Path(photo).resolve()
    page = Page(url)
    shown, fetched = [], []
    try:
        page.open()
        for run in range(3 + runs):
            page.js("performance.clearResourceTimings(); document.getElementById('description').replaceChildren()")
            page.choose(photo)
            page.wait(lambda d: page.state() in ("described", "refused", "error") and page.text("description") != "")
            times = page.js(
                "const chosen = performance.getEntriesByName('describer:photo-chosen')[0];"
                "const shown = performance.getEntriesByName('describer:description-shown')[0];"
                "const request = performance.getEntriesByType('resource').find(e => e.name.includes('/v1/describe'));"
                "return [shown.startTime - chosen.startTime, request.duration];"
            )
            if run >= 3:
                shown.append(times[0])
                fetched.append(times[1])
    finally:
        page.close()

    def summary(values):
        ordered = sorted(values)
        return {
            "p50": round(statistics.median(ordered), 1),
            "p90": round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 1),
            "min": round(ordered[0], 1),
            "max": round(ordered[-1], 1),
        }

    print(json.dumps({"photo": photo.name, "runs": runs, "to_live_region_ms": summary(shown), "describe_request_ms": summary(fetched)}))


# ---- Asking a person ----------------------------------------------------------


class Review(Page):
    """The helper's page, /review, in a browser of its own."""

    def __init__(self, url):
        super().__init__(url, "review")

    def open(self, clear=True):
        self.driver.get(self.url)
        if clear:
            self.driver.execute_script("localStorage.clear()")
            self.driver.get(self.url)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        self.wait(lambda d: self.state() in ("token", "live"), message="/review neither listed questions nor asked for a token")

    def sign_in(self, secret):
        field = self.driver.find_element(By.ID, "token-input")
        field.clear()
        field.send_keys(secret + Keys.ENTER)
        self.wait(lambda d: self.state() == "live", message="the helper token was not taken")

    def count(self):
        return int(self.js("return document.body.dataset.questions || '0'"))


def asking(page):
    return page.js("return document.body.dataset.ask || ''")


def open_asker(page, clear=True):
    page.open(clear)
    page.wait(lambda d: page.js("return document.body.dataset.assist") == "on", message="the page did not find the server's helpers")


def press_button(page, element_id):
    """A tap: the button gets the focus, then the click, as on a phone."""
    page.js(f"const b = document.getElementById('{element_id}'); b.focus(); b.click();")


def ask(page, question):
    check(not page.js("return document.getElementById('ask-person').hidden"), "Ask a person is not offered")
    press_button(page, "ask-person")
    check(focused(page) == "ask-question", f"Ask a person put the focus on {focused(page)}")
    field = page.driver.find_element(By.ID, "ask-question")
    field.send_keys(question + Keys.ENTER)
    page.wait(lambda d: asking(page) == "waiting", message=f"the question was not sent: {page.text('ask-error')!r}")
    check(focused(page) == "ask-heading", f"after sending, the focus is on {focused(page)}")


def record_live_regions(page):
    """Everything the page's live regions for asking say, in order."""
    page.js(
        "window.said = [];"
        "for (const id of ['ask-status', 'answer', 'ask-error']) {"
        "  const region = document.getElementById(id);"
        "  new MutationObserver(() => { const text = region.innerText.trim(); if (text) said.push(id + ': ' + text); })"
        "    .observe(region, {childList: true, subtree: true, characterData: true});"
        "}"
    )


def said(page):
    return page.js("return window.said || []")


def server_json(url, path, secret=None):
    import urllib.request

    request = urllib.request.Request(url.rstrip("/") + path, headers={"Authorization": f"Bearer {secret}"} if secret else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def helper_addresses_clean(review, secret):
    addresses = review.js("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
    check(not any(secret in address for address in addresses), f"the helper token is in an address: {addresses}")


def assist(url, helper, folder):
    """The whole round trip, the asker's browser and the helper's side by side."""
    asker, review = Page(url), None
    checked = []
    try:
        review = Review(url)
        review.open()
        check(review.state() == "token", f"/review without a token is {review.state()}")
        field = review.driver.find_element(By.ID, "token-input")
        field.send_keys("not-a-helper-token-0123456789" + Keys.ENTER)
        review.wait(lambda d: "was not accepted" in review.text("token-error"), message="a wrong helper token was not refused")
        check(focused(review) == "token-input", "after a wrong helper token the focus left the field")
        check(review.js("return localStorage.getItem('describer.helper-token')") is None, "a wrong helper token was kept")
        checked += every_view(review, folder, "review-token-refused")
        review.sign_in(helper)
        review.wait(lambda d: review.text("status") == "No questions are waiting.", message="the empty list was not said")
        check(review.text("helper-name") == "You answer as Mum.", f"the page says {review.text('helper-name')!r}")
        check(review.count() == 0 and not review.js("return document.getElementById('questions-empty').hidden"), "an empty list is not said to be empty")
        checked += every_view(review, folder, "review-empty")

        open_asker(asker)
        # Unusable: the refusal is followed, in the same live region, by the offer; the button comes first.
        asker.describe(QUALITY / "dog_dark.jpg", "refused")
        offer = asker.text("description")
        check("too dark" in offer and "ask a person to look at it" in offer, f"the refusal says {offer!r}")
        first = asker.js("return [...document.querySelectorAll('#result-actions button')].find(b => !b.hidden).id")
        check(first == "ask-person", f"the first of the result's buttons is {first}")
        check(asker.js("return document.getElementById('ask-person').classList.contains('primary')"), "the offered button is not the main one")
        checked += every_view(asker, folder, "offer")

        # Speaking on, then a photo asked about with a question.
        asker.js("document.getElementById('auto-speak').click()")
        asker.describe(IMAGES / "dog.jpg", "described")
        record_live_regions(asker)
        ask(asker, "What colour is the bicycle?")
        check(asker.text("ask-status") == "Your question was sent.", f"the status says {asker.text('ask-status')!r}")
        check("What colour is the bicycle?" in asker.text("ask-asked"), "the question is not shown while waiting")
        check(asker.text("ask-heading") == "Waiting for a person", f"the heading says {asker.text('ask-heading')!r}")
        check(asker.js("return localStorage.getItem('describer.asking')") is not None, "the waiting question is not kept for a reload")
        checked += every_view(asker, folder, "waiting")

        # The helper's page shows it without being reloaded: photo, question, the machine's draft and what it found.
        review.wait(lambda d: review.count() == 1, message="the question did not reach the helper's page")
        review.wait(lambda d: review.text("status") == "A new question is waiting.", message=f"the helper was told {review.text('status')!r}")
        article = review.js("return document.querySelector('#questions article').innerText")
        check("They ask: “What colour is the bicycle?”" in article, f"the question is not shown: {article!r}")
        draft = review.js("return document.querySelector('#questions .draft')?.innerText || ''")
        check(draft.startswith("A dog"), f"the machine's draft is {draft!r}")
        review.wait(lambda d: review.js("return document.querySelector('#questions img').naturalWidth > 0"), message="the photo was not shown")
        check(review.js("return document.querySelector('#questions img').src.startsWith('blob:')"), "the photo is not shown from a blob: URL")
        labels = review.js("return [...document.querySelectorAll('fieldset.detection')].map(f => f.dataset.label)")
        check("dog" in labels, f"the detections shown are {labels}")
        check(review.js("return document.querySelectorAll('.photo-frame .box').length") == len(labels), "the boxes do not match the list")
        checked += every_view(review, folder, "review-question")

        # The asker's page is reloaded while it waits: the question is picked up
        # again. Its event stream is blocked at first (a proxy that will not
        # stream): the page looks at the question instead, then streams once it can.
        asker.driver.execute_cdp_cmd("Network.enable", {})
        asker.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/events"]})
        open_asker(asker, clear=False)
        asker.wait(lambda d: asking(asker) == "waiting", message="a reload lost the waiting question")
        check(asker.text("ask-status") == "Your question is still waiting for an answer.", f"after a reload the status says {asker.text('ask-status')!r}")
        record_live_regions(asker)
        looks = "return performance.getEntriesByType('resource').filter(e => /\\/v1\\/assist\\/[^/?]+$/.test(e.name)).length"
        asker.wait(lambda d: asker.js(looks) >= 3, timeout=20, message="without its stream the page did not look at the question")
        asker.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        asker.js("performance.clearResourceTimings()")

        # The helper marks what the machine found and the photo's quality, and answers.
        review.js(
            "window.sentBodies = []; const original = window.fetch;"
            "window.fetch = (path, options) => { if (String(path).endsWith('/answer')) sentBodies.push(options.body); return original(path, options); };"
        )
        review.js(
            "const groups = document.querySelectorAll('fieldset.detection');"
            "groups.forEach((g, i) => g.querySelector(i === 0 ? 'input[value=present]' : 'input[value=absent]').click());"
            "document.querySelector('fieldset.quality input[value=usable]').click();"
        )
        answer = "The bicycle is red. The dog sits in front of it."
        review.driver.find_element(By.CSS_SELECTOR, "#questions textarea[id$='-answer']").send_keys(answer)
        review.js("document.querySelector('#questions button[type=submit]').click()")
        review.wait(lambda d: review.count() == 0, message="the answered question stayed on the helper's page")
        review.wait(lambda d: review.text("status").startswith("Sent."), message=f"the helper was told {review.text('status')!r}")
        bodies = review.js("return sentBodies")
        check(len(bodies) == 1, f"the answer was sent {len(bodies)} times")
        body = json.loads(bodies[0])
        check(body["text"] == answer, f"the answer sent was {body}")
        check(body["labels"]["present"] == [labels[0]] and body["labels"]["quality"] == "usable", f"the labels sent were {body}")
        absent = sorted(set(labels[1:]) - {labels[0]})
        check(sorted(body["labels"].get("absent", [])) == absent, f"the labels sent were {body}, absent should be {absent}")
        checked += every_view(review, folder, "review-sent")

        # The asker's live region says who answered, and what; it is spoken and kept in Recent.
        asker.wait(lambda d: asking(asker) == "answered", message="the answer did not reach the asker")
        heard = asker.text("answer")
        check(heard == f"Mum answered: {answer}", f"the answer region says {heard!r}")
        check(asker.js("return document.getElementById('answer').getAttribute('aria-live')") == "polite", "the answer is not in a live region")
        check(f"answer: Mum answered: {answer}" in said(asker), f"the live regions said {said(asker)}")
        check(f"Mum answered: {answer}" in asker.text("recent"), "the answer is not among the recent ones")
        asker.wait(
            lambda d: asker.js("return performance.getEntriesByType('resource').some(e => e.name.includes('/v1/speak'))"),
            message="the answer was not spoken",
        )
        check(asker.js("return localStorage.getItem('describer.asking')") is None, "an answered question is still kept")
        checked += every_view(asker, folder, "answered")

        # Asked again, then cancelled: the asker is told, the helper's list drops it politely.
        asker.describe(IMAGES / "dog.jpg", "described")
        check(asker.text("answer") == "", "a new photo left the old answer shown")
        ask(asker, "")
        check(asker.text("ask-asked") == "You asked for a description of the photo.", "the empty question is not said")
        review.wait(lambda d: review.count() == 1, message="the second question did not reach the helper's page")
        check("They did not type a question" in review.js("return document.querySelector('#questions article').innerText"), "an empty question is not said")
        press_button(asker, "ask-cancel")
        asker.wait(lambda d: asking(asker) == "cancelled", message="Cancel did not cancel")
        cancelled = asker.text("ask-status")
        check(cancelled == "The question was cancelled, and the photo was deleted from the server.", f"the page says {cancelled!r}")
        check(focused(asker) == "ask-heading", f"after Cancel the focus is on {focused(asker)}")
        check(f"ask-status: {cancelled}" in said(asker), f"the live regions said {said(asker)}")
        checked += every_view(asker, folder, "cancelled")
        review.wait(lambda d: review.count() == 0, message="the cancelled question stayed on the helper's page")
        note = review.text("status")
        check("is no longer waiting" in note, f"the helper was told {note!r}")
        helper_addresses_clean(review, helper)
    finally:
        asker.close()
        if review:
            review.close()
    print(json.dumps({"checked": checked, "helper_note": note}))


def expiry(url, helper, folder):
    """Nobody answers within answer_timeout: the asker is told and asks again."""
    timeout = server_json(url, "/v1/assist")["answer_timeout_seconds"]
    asker, review = Page(url), None
    checked = []
    try:
        review = Review(url)
        review.open()
        review.sign_in(helper)
        open_asker(asker)
        asker.describe(IMAGES / "dog.jpg", "described")
        record_live_regions(asker)
        ask(asker, "Is the light on?")
        explanation = asker.js("return document.getElementById('ask-explanation').textContent")
        check(f"within {timeout} seconds" in explanation, f"the form says {explanation!r}")
        press_button(asker, "ask-time-left")
        asker.wait(lambda d: "left for a person to answer" in asker.text("ask-status"), message="Time left said nothing")
        left = asker.text("ask-status")
        review.wait(lambda d: review.count() == 1, message="the question did not reach the helper's page")

        asker.wait(lambda d: asking(asker) == "expired", timeout=timeout + 30, message="the question did not expire")
        ended = asker.text("ask-status")
        check(ended == f"Nobody answered within {timeout} seconds. You can ask again.", f"the page says {ended!r}")
        check(asker.text("ask-heading") == "Nobody answered", f"the heading says {asker.text('ask-heading')!r}")
        check(f"ask-status: {ended}" in said(asker), f"the live regions said {said(asker)}")
        check(focused(asker) == "ask-heading", f"when it expired the focus on Time left went to {focused(asker)}")
        check(asker.js("return localStorage.getItem('describer.asking')") is None, "an expired question is still kept")
        checked += every_view(asker, folder, "expired")
        review.wait(lambda d: review.count() == 0, message="the expired question stayed on the helper's page")
        note = review.text("status")
        check("nobody answered it in time" in note, f"the helper was told {note!r}")

        # Ask again: the same photo and question. The server's refusals first,
        # as the page would get them, each said in plain words where it was asked.
        press_button(asker, "ask-again")
        check(focused(asker) == "ask-question", f"Ask again put the focus on {focused(asker)}")
        check(asker.js("return document.getElementById('ask-question').value") == "Is the light on?", "Ask again forgot the question")
        refusals = []
        for status, code, retry_after, expect in [
            (429, "rate_limited", "120", "You have asked many questions in a short time. Ask again in 2 minutes."),
            (503, "queue_full", None, "Too many questions are already waiting for a person. Ask again in a few minutes."),
            (413, "payload_too_large", None, "This photo is too large for the server, which takes photos up to"),
        ]:
            asker.js(
                "const [status, code, retryAfter] = arguments;"
                "window.realFetch = window.realFetch || window.fetch;"
                "window.fetch = (path, options) => String(path).startsWith('/v1/assist') && options?.method === 'POST'"
                "  ? Promise.resolve(new Response(JSON.stringify({error: {code, message: code}}),"
                "      {status, headers: retryAfter ? {'Retry-After': retryAfter} : {}}))"
                "  : realFetch(path, options);",
                status,
                code,
                retry_after,
            )
            asker.driver.find_element(By.ID, "ask-question").send_keys(Keys.ENTER)
            asker.wait(lambda d: asker.text("ask-error").startswith(expect), message=f"a {status} was said as {asker.text('ask-error')!r}")
            check(asking(asker) == "asking" and focused(asker) == "ask-question", f"after a {status} the form is gone or the focus left it")
            refusals.append(asker.text("ask-error"))
        asker.js("window.fetch = window.realFetch")
        asker.driver.find_element(By.ID, "ask-question").send_keys(Keys.ENTER)
        asker.wait(lambda d: asking(asker) == "waiting", message="asking again did not send")
        review.wait(lambda d: review.count() == 1, message="the question asked again did not reach the helper's page")
        press_button(asker, "ask-cancel")
        asker.wait(lambda d: asking(asker) == "cancelled", message="Cancel did not cancel")
        check(asker.js("return localStorage.getItem('describer.asking')") is None, "a cancelled question is still kept")
    finally:
        asker.close()
        if review:
            review.close()
    print(json.dumps({"checked": checked, "time_left": left, "expired": ended, "helper_note": note, "refusals": refusals}))


def assist_keyboard(url, helper):
    """Both pages with the keyboard alone; a focus indicator at every stop."""
    asker, review = Page(url), None
    walk = []
    try:
        review = Review(url)
        open_asker(asker)

        def press(page, key, expect=None):
            ActionChains(page.driver).send_keys(key).perform()
            if expect:
                # Some moves wait for the server (a token tried, an answer sent).
                try:
                    WebDriverWait(page.driver, 10).until(lambda d: focused(page) == expect)
                except Exception:
                    pass
            where = focused(page)
            walk.append(where)
            if expect:
                check(where == expect, f"focus went to {where}, expected {expect}; walk so far {walk}")
            outline = page.js("return getComputedStyle(document.activeElement).outlineStyle")
            check(outline not in ("none", ""), f"{where} shows no focus indicator; walk so far {walk}")
            return where

        asker.js(
            "window.pickerOpened = [];"
            "document.getElementById('file-input').addEventListener('click', e => { pickerOpened.push('file-input'); e.preventDefault(); });"
        )
        asker.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        press(asker, Keys.TAB, "take-photo")
        press(asker, Keys.TAB, "choose-photo")
        press(asker, Keys.ENTER)
        check(asker.js("return pickerOpened") == ["file-input"], "Enter on Choose a photo did not open the picker")
        asker.choose(IMAGES / "dog.jpg")
        asker.wait(lambda d: asker.state() == "described", message="dog.jpg was not described")
        for _ in range(8):
            if press(asker, Keys.TAB) == "ask-person":
                break
            check(walk[-1] in ("speak", "repeat", "more-detail", "read-text"), f"on the way to Ask a person: {walk}")
        check(walk[-1] == "ask-person", f"Tab never reached Ask a person: {walk}")
        press(asker, Keys.ENTER, "ask-question")
        ActionChains(asker.driver).send_keys("What colour is the bicycle?").perform()
        press(asker, Keys.ENTER, "ask-heading")
        asker.wait(lambda d: asking(asker) == "waiting", message="the question was not sent")
        press(asker, Keys.TAB, "ask-time-left")
        press(asker, Keys.ENTER, "ask-time-left")
        asker.wait(lambda d: "left for a person to answer" in asker.text("ask-status"), message="Time left said nothing")

        # The helper: the skip link, then the token field, first in the page's main part.
        review.open()
        review.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        check(focused(review) == "A:Skip to the questions", f"the first Tab went to {focused(review)}")
        press(review, Keys.TAB, "token-input")
        ActionChains(review.driver).send_keys(helper).perform()
        press(review, Keys.ENTER, "questions-heading")
        review.wait(lambda d: review.count() == 1, message="the question did not reach the helper's page")
        # The first group of choices: Tab lands on the one checked (Can't tell); arrows choose.
        press(review, Keys.TAB)
        check(review.js("return document.activeElement.type") == "radio", f"the first stop in the question is {focused(review)}")
        press(review, Keys.ARROW_UP)
        press(review, Keys.ARROW_UP)
        check(review.js("return document.activeElement.value") == "present", "the arrows did not reach Yes")
        for _ in range(12):
            where = press(review, Keys.TAB)
            if where.endswith("-answer"):
                break
        check(walk[-1].endswith("-answer"), f"Tab never reached the answer: {walk}")
        ActionChains(review.driver).send_keys("The bicycle is red.").perform()
        press(review, Keys.TAB, "BUTTON:Send the answer")
        press(review, Keys.ENTER, "questions-heading")
        review.wait(lambda d: review.text("status").startswith("Sent."), message="the answer was not sent")

        asker.wait(lambda d: asking(asker) == "answered", message="the answer did not reach the asker")
        check(asker.text("answer") == "Mum answered: The bicycle is red.", f"the answer region says {asker.text('answer')!r}")
        # The focus was on Time left, which went with the waiting: it is on Ask a person again.
        check(focused(asker) == "ask-person", f"after the answer the focus is on {focused(asker)}")
    finally:
        asker.close()
        if review:
            review.close()
    print(json.dumps({"walk": walk}))


def yes_no(url, helper, question_id, folder):
    """A camera's yes-or-no question on /review: two buttons, one press."""
    review = Review(url)
    try:
        review.open()
        review.sign_in(helper)
        review.wait(lambda d: review.count() == 1, message="the camera's question is not listed")
        buttons = review.js(
            "return [...document.querySelectorAll('fieldset.quick-answer button')].map(b => b.textContent)"
        )
        check(buttons == ["Yes", "No"], f"a yes-or-no question offers {buttons}")
        legend = review.js("return document.querySelector('fieldset.quick-answer legend').textContent")
        check(legend == "Answer yes or no", f"the buttons' group is called {legend!r}")
        checked = every_view(review, folder, "review-yes-no")
        review.js("document.querySelector('fieldset.quick-answer button').click()")
        review.wait(lambda d: review.count() == 0, message="the question stayed after Yes")
        answered = server_json(url, f"/v1/assist/{question_id}")
        check(answered["status"] == "answered" and answered["answer"]["text"] == "Yes", f"the server has {answered}")
    finally:
        review.close()
    print(json.dumps({"views": checked, "answer": answered["answer"]["text"]}))


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    try:
        {
            "states": states,
            "keyboard": keyboard,
            "token": token,
            "limits": limits,
            "latency": latency,
            "assist": assist,
            "expiry": expiry,
            "assist-keyboard": assist_keyboard,
            "yes-no": yes_no,
        }[command](*arguments)
    except Failure as failure:
        raise SystemExit(f"{command}: {failure}")

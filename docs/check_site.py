"""Check the built site in a real browser: every page, offline, as a reader would see it.

    python docs/check_site.py --build      # build with -W first, then check
    python docs/check_site.py              # check docs/_build/html as it is

First a static pass over the HTML and CSS: no page may load a script, style sheet, font
or image from outside the site (links to papers are fine; resources are not). Then the
site is served on 127.0.0.1 (``http.server`` on a free port, in this process) and every
page is opened in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright, which never downloads a browser of its own here), with a fresh empty
profile and ``--headless --no-sandbox --disable-gpu --disable-background-networking``.
Any request to another host is blocked and counts as a failure. On every page:

* math is typeset: MathJax's startup promise resolves (typesetting complete), every
  ``.math`` element holds a rendered ``mjx-container``, MathJax reports no TeX error,
  and no raw TeX (``\\(``, ``$$``, ``\\frac``, ``$x$``, ...) is left in the visible text
  outside code and rendered math;
* every image loaded (``naturalWidth > 0``);
* no console error, no uncaught exception, no failed or 4xx/5xx request.

Screenshots of the home page and of one page per area go to ``docs/_build/screenshots/``.
Prints one line per failing page, the pass count and the times; exits 1 on any failure.
Needs the ``docs`` extra (Playwright) and Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import functools
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

DOCS = Path(__file__).resolve().parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"]
SKIPPED_DIRS = {"_static", "_sources", "_images", ".doctrees"}
#: Top-level pages that are not an area of their own: no screenshot.
NOT_AREAS = {"genindex.html", "py-modindex.html", "search.html", "changelog.html"}

# --- the static pass --------------------------------------------------------------------

RESOURCE_ATTRIBUTES = {("script", "src"), ("img", "src"), ("img", "srcset"),
                       ("source", "src"), ("source", "srcset"), ("iframe", "src"),
                       ("video", "src"), ("audio", "src"), ("embed", "src"),
                       ("object", "data")}
RESOURCE_LINK_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon",
                      "shortcut", "apple-touch-icon", "manifest"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")


def is_external(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") or url.strip().startswith("//")


class ResourceParser(HTMLParser):
    """Collects the URLs a page loads (not the ones it merely links to)."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if (tag, name) in RESOURCE_ATTRIBUTES:
                self.resources += [part.split()[0] for part in value.split(",") if part.split()]
        rels = set(values.get("rel", "").lower().split())
        if tag == "link" and rels & RESOURCE_LINK_RELS and "href" in values:
            self.resources.append(values["href"])
        if "style" in values:
            self.resources += [a or b for a, b in CSS_URL.findall(values["style"])]


def static_failures(html_dir: Path, pages: list[Path]) -> dict[str, list[str]]:
    failures: dict[str, list[str]] = {}
    for page in pages:
        parser = ResourceParser()
        parser.feed(page.read_text(encoding="utf-8"))
        external = sorted({url for url in parser.resources if is_external(url)})
        if external:
            failures[page.relative_to(html_dir).as_posix()] = [
                f"loads an outside resource: {url}" for url in external]
    for sheet in sorted(html_dir.rglob("*.css")):
        external = sorted({a or b for a, b in CSS_URL.findall(sheet.read_text(
            encoding="utf-8", errors="replace")) if is_external(a or b)})
        if external:
            failures[sheet.relative_to(html_dir).as_posix()] = [
                f"style sheet loads an outside resource: {url}" for url in external]
    return failures


# --- the browser pass -------------------------------------------------------------------

#: What raw TeX looks like in a page's visible text: math delimiters, ``$$``, a common
#: macro, or ``$...$`` (an inline math span that nothing typeset).
TEX_MACROS = ("frac", "dfrac", "sum", "prod", "int", "sqrt", "begin", "end", "left", "right",
              "math[a-z]+", "operatorname", "cdot", "times", "alpha", "beta", "gamma", "theta",
              "kappa", "lambda", "sigma", "varphi", "phi", "pi", "mu", "langle", "rangle",
              "qquad", "quad", "text", "leq?", "geq?", "infty", "partial", "nabla", "top")
TEX_PATTERN = (r"\\[()\[\]]|\$\$|\\(" + "|".join(TEX_MACROS) + r")(?![a-zA-Z])"
               r"|\$[^$\s][^$]{0,80}\$")

#: Runs in the page after load: waits for MathJax and the images, then reports.
PAGE_REPORT = r"""
async (TEX_PATTERN) => {
  const report = {mathjax: false, math: 0, untypeset: 0, texErrors: [], rawTex: [],
                  images: [], brokenImages: []};
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    report.mathjax = true;
    await MathJax.startup.promise;          // resolves once the initial typesetting is done
  }
  await document.fonts.ready;
  const math = Array.from(document.querySelectorAll(".math"));
  report.math = math.length;
  report.untypeset = math.filter(el => !el.querySelector("mjx-container")).length;
  report.texErrors = Array.from(document.querySelectorAll("mjx-merror, [data-mjx-error]"))
    .map(el => el.getAttribute("data-mjx-error") || el.textContent).slice(0, 5);
  const skip = "mjx-container, script, style, pre, code, kbd, samp, textarea, .highlight";
  const tex = new RegExp(TEX_PATTERN);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const match = node.textContent.match(tex);
    if (match) {
      const at = Math.max(0, match.index - 30);
      report.rawTex.push(node.textContent.slice(at, match.index + 40).replace(/\s+/g, " "));
    }
  }
  report.images = images.length;
  report.brokenImages = images.filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => img.getAttribute("src"));
  return report;
}
"""


@dataclass
class PageResult:
    page: str
    problems: list[str] = field(default_factory=list)
    math: int = 0
    images: int = 0


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(html_dir: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def check_pages(pages: list[str], base: str, chromium: str,
                screenshots: dict[str, Path]) -> list[PageResult]:
    from playwright.sync_api import sync_playwright

    results = []
    origin = urlsplit(base).netloc
    with tempfile.TemporaryDirectory(prefix="refimpl-chromium-") as profile, \
            sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900}, offline=False)
        blocked: list[str] = []

        def route(request_route: object) -> None:
            request = request_route.request  # type: ignore[attr-defined]
            parts = urlsplit(request.url)
            if parts.scheme in ("data", "blob", "about") or parts.netloc == origin:
                request_route.continue_()  # type: ignore[attr-defined]
            else:
                blocked.append(request.url)
                request_route.abort()  # type: ignore[attr-defined]

        context.route("**/*", route)
        print(f"Chromium {context.browser.version if context.browser else '?'} "
              f"at {chromium}, flags {' '.join(CHROMIUM_FLAGS)}, empty profile")
        page = context.new_page()
        events: list[str] = []  # what the current page reported; cleared for each page
        page.on("console", lambda message: events.append(f"console error: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: events.append(f"uncaught exception: {error}"))
        page.on("requestfailed", lambda request: events.append(
            f"request failed: {request.url} ({request.failure})"))
        # requests under way: a page is done when none is left (MathJax fetches its fonts
        # after typesetting; leaving earlier would abort them and blame the next page)
        pending: set[object] = set()
        page.on("request", lambda request: pending.add(request))
        page.on("requestfinished", lambda request: pending.discard(request))
        page.on("requestfailed", lambda request: pending.discard(request))
        page.on("response", lambda response: events.append(
            f"HTTP {response.status}: {response.url}") if response.status >= 400 else None)
        for name in pages:
            result = PageResult(name)
            blocked.clear()
            events.clear()
            try:
                page.goto(f"{base}/{name}", wait_until="load", timeout=30_000)
                report = page.evaluate(PAGE_REPORT, TEX_PATTERN)
            except Exception as error:  # a timeout or a crash is a failure of this page
                result.problems.append(f"could not check the page: {error}")
                report = None
            if report is not None:
                result.math, result.images = report["math"], report["images"]
                if report["math"] and not report["mathjax"]:
                    result.problems.append(f"{report['math']} math elements but no MathJax")
                if report["untypeset"]:
                    result.problems.append(f"{report['untypeset']} of {report['math']} math "
                                           f"elements not typeset")
                result.problems += [f"TeX error: {text}"
                                    for text in dict.fromkeys(report["texErrors"])]
                result.problems += [f"raw TeX in the text: ...{text}..."
                                    for text in report["rawTex"][:5]]
                result.problems += [f"image not loaded: {src}" for src in report["brokenImages"]]
                if name in screenshots:
                    page.screenshot(path=str(screenshots[name]))
            deadline = time.perf_counter() + 10.0
            while pending and time.perf_counter() < deadline:
                page.wait_for_timeout(20)
            if pending:
                result.problems.append(f"{len(pending)} requests still pending after 10 s")
            page.wait_for_timeout(20)  # let late console messages arrive
            result.problems += events + [f"blocked request to another host: {url}"
                                         for url in blocked]
            results.append(result)
        context.close()
    return results


def site_pages(html_dir: Path) -> list[Path]:
    return sorted(path for path in html_dir.rglob("*.html")
                  if not SKIPPED_DIRS & set(path.relative_to(html_dir).parts[:-1]))


def screenshot_plan(pages: list[str], out: Path) -> dict[str, Path]:
    """The home page, every guide page, the API index and the page of each top-level module
    (all found in the build, so a new page or area is covered)."""
    guide = [p for p in pages if "/" not in p and p != "index.html" and p not in NOT_AREAS]
    areas = ["index.html", *guide, "api/index.html",
             *[p for p in pages if re.fullmatch(r"api/refimpl\.[a-z_]+\.html", p)]]
    return {page: out / (page.removesuffix(".html").replace("/", "_") + ".png")
            for page in areas}


def build(html_dir: Path) -> None:
    command = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS),
               str(html_dir)]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="store_true", help="build the site (-W) first")
    parser.add_argument("--html", type=Path, default=DOCS / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=DOCS / "_build" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.build:
        try:
            build(args.html)
        except subprocess.CalledProcessError:
            print("docs: the build failed (warnings are errors)")
            return 1
        print(f"docs: built in {time.perf_counter() - start:.1f} s", flush=True)
    if not Path(args.chromium).exists():
        print(f"docs: no Chromium at {args.chromium} (apt-get install chromium)")
        return 1
    html_dir = args.html.resolve()
    pages = site_pages(html_dir)
    if not pages:
        print(f"docs: no pages under {html_dir}")
        return 1
    names = [page.relative_to(html_dir).as_posix() for page in pages]
    failures = static_failures(html_dir, pages)
    args.screenshots.mkdir(parents=True, exist_ok=True)
    plan = screenshot_plan(names, args.screenshots)
    browser_start = time.perf_counter()
    server, base = serve(html_dir)
    try:
        results = check_pages(names, base, args.chromium, plan)
    finally:
        server.shutdown()
    for result in results:
        if result.problems:
            failures.setdefault(result.page, []).extend(result.problems)
    for name, problems in sorted(failures.items()):
        print(f"FAIL {name}")
        for problem in problems:
            print(f"    {problem}")
    failed_pages = {name for name in failures if name.endswith(".html")}
    passed = len(results) - len(failed_pages & set(names))
    math = sum(result.math for result in results)
    images = sum(result.images for result in results)
    print(f"docs: {len(results)} pages opened in Chromium in "
          f"{time.perf_counter() - browser_start:.1f} s ({math} math elements, {images} "
          f"images); {len(plan)} screenshots in {args.screenshots}")
    print(f"docs: total {time.perf_counter() - start:.1f} s")
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Screenshots of pages for a human to look at: `python scripts/shoot.py URL... [--login EMAIL]`.
Writes .run/shots/<name>-desktop.png and -phone.png."""

import argparse
import re
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(".run/shots")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--login")
    parser.add_argument("--password", default="tollgate-demo")
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--full", action="store_true")
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for label, size in (("desktop", (1280, 860)), ("phone", (390, 844))):
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            if options.login:
                page.goto(options.base + "/accounts/login/")
                page.fill("input[name=login]", options.login)
                page.fill("input[name=password]", options.password)
                page.click("button[type=submit]")
                page.wait_for_load_state()
            for url in options.urls:
                page.goto(options.base + url)
                name = re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-") or "home"
                page.screenshot(path=OUT / f"{name}-{label}.png", full_page=options.full)
                print(OUT / f"{name}-{label}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()

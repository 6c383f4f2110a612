"""Static assets the layout needs: the stylesheet, the logo, and the compiled site script."""

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

STATIC = Path(settings.BASE_DIR) / "static"


@pytest.mark.parametrize("path", ["css/site.css", "img/logo.svg", "img/favicon.svg", "build/site.js"])
def test_asset_is_found_by_staticfiles(path):
    assert finders.find(path), f"static/{path} is missing (for build/: run `npm run build`)"


def test_compiled_site_script_exists_after_npm_run_build():
    bundle = STATIC / "build" / "site.js"

    assert bundle.is_file(), "static/build/site.js is missing: run `npm run build`"
    assert "data-nav-toggle" in bundle.read_text()


@pytest.mark.parametrize("name", ["logo.svg", "favicon.svg"])
def test_svg_images_are_well_formed_and_script_free(name):
    text = (STATIC / "img" / name).read_text()

    root = ElementTree.fromstring(text)  # noqa: S314 - our own file
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<script" not in text
    assert "style=" not in text
    assert not re.search(r"(href|src)=\"https?:", text), "no external references: the site works offline"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


CSS = (STATIC / "css" / "site.css").read_text()
TOKENS = dict(re.findall(r"--(color-[a-z-]+):\s*(#[0-9a-fA-F]{6});", CSS))
WHITE = "#ffffff"

# Text on background pairs the stylesheet uses: WCAG AA asks for 4.5:1.
TEXT_PAIRS = [
    ("color-text", "color-bg"),
    ("color-text", "color-surface"),
    ("color-text", "color-sand"),
    ("color-muted", "color-bg"),
    ("color-muted", "color-surface"),
    ("color-terracotta", "color-bg"),
    ("color-terracotta", "color-surface"),
    ("color-terracotta-dark", "color-surface"),
    ("color-olive", "color-surface"),
    ("color-sea", "color-sand"),
    ("color-sea", "color-surface"),
    ("color-danger", "color-surface"),
    ("color-ribbon-text", "color-ribbon-bg"),
    ("color-success-text", "color-success-bg"),
    ("color-error-text", "color-error-bg"),
    ("color-warning-text", "color-warning-bg"),
    ("color-info-text", "color-info-bg"),
]


@pytest.mark.parametrize(("foreground", "background"), TEXT_PAIRS)
def test_palette_text_pairs_meet_wcag_aa(foreground, background):
    assert foreground in TOKENS, foreground
    assert background in TOKENS, background
    assert contrast(TOKENS[foreground], TOKENS[background]) >= 4.5


@pytest.mark.parametrize(
    "background", ["color-terracotta", "color-terracotta-dark", "color-danger", "color-danger-dark", "color-sea"]
)
def test_white_button_text_meets_wcag_aa(background):
    assert contrast(WHITE, TOKENS[background]) >= 4.5


def test_input_borders_and_focus_ring_meet_the_3_to_1_non_text_minimum():
    assert contrast(TOKENS["color-border"], TOKENS["color-bg"]) >= 3
    assert contrast(TOKENS["color-focus"], TOKENS["color-bg"]) >= 3


def test_stylesheet_respects_reduced_motion_and_shows_focus():
    assert "@media (prefers-reduced-motion: reduce)" in CSS
    assert ":focus-visible" in CSS
    assert "@import" not in CSS
    assert "url(http" not in CSS

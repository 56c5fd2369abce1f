"""The rendering budget holds: hostile templates fail fast, with their reason, in bounded memory.

Every template of `tests.support.hostile_templates` would hold a CPU for seconds to hours or grow
memory by gigabytes without the budget. Each must fail with `BudgetExceeded` naming what it tried,
within a second, without allocating more than a few tens of megabytes; ordinary templates render as
before.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any

import pytest

from stepwise.delivery.render_budget import MAX_SECONDS, MAX_WALL_SECONDS, BudgetExceeded, RenderError
from stepwise.delivery.rendering import check_template, derive_text, render_draft, render_string
from tests.support.hostile_templates import HOSTILE, Hostile

CONTEXT: dict[str, Any] = {
    "email": "anna@example.com",
    "data": {"base": {"firstName": "Anna"}, "items": [{"name": "tea", "price": 2.5}, {"name": "cup", "price": 7}]},
    "sequence": "welcome",
    "event": {},
    "unsubscribe_url": "http://stepwise.test/t/u/x",
}


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_a_hostile_template_fails_within_the_budget_with_its_reason(hostile: Hostile) -> None:
    started, cpu_started = time.perf_counter(), time.thread_time()
    with pytest.raises(BudgetExceeded) as failure:
        render_draft("Hi", hostile.source, None, CONTEXT)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    message = str(failure.value)
    print(f"{hostile.name}: {elapsed * 1000:.0f} ms ({cpu * 1000:.0f} ms of CPU): {message}")
    assert message.startswith("template exceeds the rendering budget: ")
    assert hostile.explains(message)
    assert cpu < MAX_SECONDS + 0.25
    assert elapsed < MAX_WALL_SECONDS + 0.5


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_a_hostile_template_allocates_little(hostile: Hostile) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(RenderError):
            render_string(hostile.source, CONTEXT, html=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48 * 1024 * 1024, f"{hostile.name}: {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_a_template_over_the_budget_without_data_is_refused_when_saved(hostile: Hostile) -> None:
    problem = check_template(hostile.source)
    assert problem is not None and hostile.explains(problem)


ORDINARY = [
    ("Hi {{ data.base.firstName }}!", "Hi Anna!"),
    ("{% for i in data['items'] %}{{ i.name }}={{ '%.2f' % i.price }};{% endfor %}", "tea=2.50;cup=7.00;"),
    ("{{ 'a' ~ 1 ~ email }}|{{ ('<i>'|safe) ~ '<' }}", "a1anna@example.com|<i>&lt;"),
    ("{{ '{} {:>4}'.format('a', 'b') }}|{{ '%(x)s' % {'x': 1} }}|{{ '%s'|format('q') }}", "a    b|1|q"),
    ("{{ data['items']|map(attribute='name')|join(', ') }}|{{ [1, 2, 3]|sum }}", "tea, cup|6"),
    ("{{ 'hello world'|title|center(15) }}|{{ 'a\nb'|indent(2, true) }}", "  Hello World  |  a\n  b"),
    ("{{ 2 ** 10 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ 'ab' * 3 }} {{ [0] * 2 }}", "1024 3 3.5 1 ababab [0, 0]"),
    ("{{ email.split('@')[1] }} {{ ','.join(['a', 'b']) }} {{ 'x'.center(5, '*') }}", "example.com a,b **x**"),
    ("{% set ns = namespace(s='') %}{% for i in range(3) %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.s }}", "012"),
    ("{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(1) }}{{ m('<') }}", "[1][&lt;]"),
    ("{{ range(7)|batch(3)|list }}|{{ range(5)|slice(2)|list }}", "[[0, 1, 2], [3, 4, 5], [6]]|[[0, 1, 2], [3, 4]]"),
    ("{{ data.base.missing.deeper }}|{{ nothing }}|{{ lipsum(1, false, 3, 4)|wordcount > 0 }}", "||True"),
    ("{% autoescape false %}{{ '<' ~ 'b>' }}{% endautoescape %}{{ [3, 1, 2]|sort|join }}", "<b>123"),
    (
        "{{ (2 ** 4000)|string|length }} {{ ('x' * 900000)|length }} {{ ('ab' * 3)|replace('a', 'xy') }}",
        "1205 900000 xybxybxyb",
    ),
    ("{{ range(3)|map('string') }}{{ lipsum }}{{ ''.join }}", ""),
    ("{{ ('<b>{}</b>'|safe).format('<i>') }}|{{ ('<b>%s</b>'|safe) % '<i>' }}", "<b>&lt;i&gt;</b>|<b>&lt;i&gt;</b>"),
]


@pytest.mark.parametrize(("source", "expected"), ORDINARY)
def test_ordinary_templates_render_as_before(source: str, expected: str) -> None:
    assert render_string(source, CONTEXT, html=True) == expected
    assert check_template(source) is None


def test_a_draft_has_one_budget_for_its_three_parts() -> None:
    spin = "{% for a in range(1000) %}{% for b in range(120) %}{% endfor %}{% endfor %}"  # 120,000 iterations
    render_string(spin, CONTEXT, html=True)  # alone it fits
    # Together they pass the iteration budget (or, on a slow machine, the CPU budget first).
    with pytest.raises(BudgetExceeded, match=r"loop iterations|rendering took more than"):
        render_draft(spin, spin, None, CONTEXT)


def test_budgets_are_per_thread() -> None:
    slow = "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(40) }}"
    results: list[str] = []

    def fast() -> None:
        for _ in range(50):
            results.append(render_string("{{ email }}", CONTEXT, html=False))

    thread = threading.Thread(target=fast)
    with pytest.raises(BudgetExceeded, match="rendering took more than"):
        thread.start()
        render_string(slow, CONTEXT, html=True)
    thread.join()
    assert results == ["anna@example.com"] * 50


def test_compiling_is_bounded_too() -> None:
    assert "too complex" in (check_template("{{ x }}" * 140_000) or "")
    assert "nests too deeply" in (check_template("{{ " + "(" * 400 + "1" + ")" * 400 + " }}") or "")
    assert "nests too deeply" in (check_template("{% for a in x %}" * 25 + "{% endfor %}" * 25) or "")
    assert "syntax error" in (check_template("{% for %}") or "")
    started = time.thread_time()  # this thread's CPU time: other processes on a busy machine do not count
    assert check_template("<p>{{ data.x }}</p>\n" * 3000) is None  # 24,000 tokens: about 0.5 s
    assert time.thread_time() - started < 3


def test_the_text_part_is_derived_in_linear_time_from_broken_html() -> None:
    for html in ("<a " * 300_000, '<a "' * 250_000, "<!--" * 250_000, "<![foo>" * 140_000):
        started = time.thread_time()  # CPU time of this thread, not wall time on a shared machine
        text = derive_text(html)
        assert time.thread_time() - started < 1.5
        assert text.startswith(html[:10].strip())  # the stray "<" are text
    with pytest.raises(BudgetExceeded, match="links nest"):
        derive_text('<a href="https://x.example/">y' * 30_000 + "</a>" * 30_000)
    assert derive_text('<p>Hi <a href="https://x.example/">there</a></p><!--[if mso]>x<![endif]-->') == (
        "Hi there (https://x.example/)\n"
    )

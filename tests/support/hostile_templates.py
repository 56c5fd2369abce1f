"""Templates that try to hold the CPU or grow memory without bound, with the reason each must fail with.

Shared by the unit tests of the rendering budget and the end-to-end test of previews.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hostile:
    name: str
    source: str
    reason: str  # a part of the RenderError's message

    def explains(self, message: str) -> bool:
        """Tell whether a failure's message is this template's reason (or, on a slow machine, the time limit)."""
        return "template exceeds the rendering budget: " in message and (
            self.reason in message or "rendering took more than" in message
        )


def _repeat(statement: str, times: int) -> str:
    return statement * times


_S90K = "{% set s = 'x' * 90000 %}"

HOSTILE = [
    Hostile(
        "bigint squaring",
        "{% set x = 10 %}" + _repeat("{% set x = x * x %}", 40) + "{{ x }}",
        "bits from the * operator",
    ),
    Hostile(
        "power tower",
        "{% set x = 9 ** 64 %}" + _repeat("{% set x = x ** 64 %}", 4) + "{{ x }}",
        "bits from the ** operator",
    ),
    Hostile("power of power", "{{ 99 ** 99 ** 99 }}", "bits from the ** operator"),
    Hostile(
        "bigint addition loop",
        "{% set ns = namespace(x=1) %}{% for i in range(99999) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
        "bits from the + operator",
    ),
    Hostile(
        "~ doubling",
        "{% set s = 'abcdefgh' %}" + _repeat("{% set s = s ~ s %}", 40) + "{{ s|length }}",
        "from the ~ operator",
    ),
    Hostile(
        "+ doubling",
        "{% set s = 'abcdefgh' %}" + _repeat("{% set s = s + s %}", 40) + "{{ s|length }}",
        "from the + operator",
    ),
    Hostile(
        "~ in a loop",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "from the ~ operator",
    ),
    Hostile("string *", "{{ 'x' * 1000000000 }}", "from the * operator"),
    Hostile("list *", "{{ [1, 2] * 1000000000 }}", "from the * operator"),
    Hostile("list of lists *", "{% set l = [0] * 90000 %}{% set m = [l] * 90000 %}{{ m|sum(start=[]) }}", "sum filter"),
    Hostile("replace filter", "{{ ('a' * 90000)|replace('a', 'a' * 90000) }}", "from the replace filter"),
    Hostile("str.replace", "{{ ('a' * 90000).replace('a', 'a' * 90000) }}", "from str.replace"),
    Hostile("replace empty", "{{ ('a' * 90000).replace('', 'b' * 90000) }}", "from str.replace"),
    Hostile("indent width", "{{ ('\n' * 90000)|indent(90000, blank=true) }}", "from the indent filter"),
    Hostile("indent string", "{{ ('\n' * 90000)|indent('x' * 90000, blank=true) }}", "from the indent filter"),
    Hostile("lipsum paragraphs", "{{ lipsum(n=100000000) }}", "from lipsum"),
    Hostile("lipsum words", "{{ lipsum(2, max=1000000000) }}", "from lipsum"),
    Hostile("center filter", "{{ 'x'|center(1000000000) }}", "from the center filter"),
    Hostile("str.center", "{{ 'x'.center(1000000000) }}", "to str.center"),
    Hostile("str.ljust", "{{ 'x'.ljust(999999) * 999 }}", "from the * operator"),
    Hostile("str.zfill", "{{ '1'.zfill(1000000000) }}", "to str.zfill"),
    Hostile("expandtabs", "{{ ('\t' * 90000).expandtabs(90000) }}", "from str.expandtabs"),
    Hostile("translate", "{{ ('a' * 90000).translate({97: 'b' * 90000}) }}", "from str.translate"),
    Hostile("format filter width", "{{ '%999999999s'|format('x') }}", "a width in the format filter"),
    Hostile("% width", "{{ '%0999999999d' % 1 }}", "a width in % formatting"),
    Hostile("% star width", "{{ '%*s' % (999999999, 'x') }}", "a width in % formatting"),
    Hostile("% many fields", _S90K + "{{ ('%s' * 90000) % ((s,) * 90000) }}", "% formatting"),
    Hostile("str.format width", "{{ '{:>999999999}'.format('x') }}", "from str.format"),
    Hostile("str.format nested width", "{{ '{0:{1}}'.format('x', 999999999) }}", "from str.format"),
    Hostile("str.format repeated field", _S90K + "{{ ('{0}' * 90000).format(s) }}", "from str.format"),
    Hostile("join filter", _S90K + "{{ ([s] * 90000)|join }}", "from the join filter"),
    Hostile("str.join", _S90K + "{{ ''.join([s] * 90000) }}", "from str.join"),
    Hostile("join separator", "{{ (range(90000)|list)|join('x' * 90000) }}", "from the join filter"),
    Hostile("range size", "{{ range(1000000000)|list }}", "items from range"),
    Hostile("range huge", "{{ range(10 ** 30)|length }}", "range"),
    Hostile(
        "nested loops",
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "loop iterations",
    ),
    Hostile("wordwrap", "{{ ('a ' * 400000)|wordwrap(1) }}", "wordwrap filter takes at most"),
    Hostile(
        "wordwrap wrapstring", "{{ ('a ' * 40000)|wordwrap(1, wrapstring='x' * 90000) }}", "from the wordwrap filter"
    ),
    Hostile("truncate", "{{ ('a' * 900000)|truncate(1000000000) ~ ('a' * 900000) }}", "from the ~ operator"),
    Hostile("print shared list", _S90K + "{{ [s] * 90000 }}", "from printing a value"),
    Hostile("string filter of shared list", _S90K + "{{ ([s] * 90000)|string }}", "from the string filter"),
    Hostile("tojson of shared list", _S90K + "{{ ([s] * 90000)|tojson }}", "from the tojson filter"),
    Hostile("tojson indent", "{{ [[[[1]]]]|tojson(indent=1000000) }}", "indents by at most"),
    Hostile("pprint", "{{ (range(90000)|list)|pprint }}", "pprint filter takes at most"),
    Hostile("upper of shared list", _S90K + "{{ ([s] * 90000)|upper }}", "from the upper filter"),
    Hostile("split into many", "{{ (' a' * 450000).split()|length }}", "items from str.split"),
    Hostile("sort a long string", "{{ ('x' * 900000)|sort|first }}", "from the sort filter"),
    Hostile("slice count", "{{ [1]|slice(99999999)|list }}", "from the slice filter"),
    Hostile("batch fill", "{{ [1]|batch(999999, 0)|list }}", "from the batch filter"),
    Hostile("to_bytes", "{{ (1).to_bytes(1000000000, 'big') }}", "to int.to_bytes"),
    Hostile(
        "macro buffer",
        _S90K + "{% macro m() %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endmacro %}{{ m()|length }}",
        "printed in all",
    ),
    Hostile(
        "macro literal buffer",
        "{% macro m() %}{% for i in range(100000) %}" + "y" * 900 + "{% endfor %}{% endmacro %}{{ m()|length }}",
        "printed in all",
    ),
    Hostile(
        "macro fan-out",
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(40) }}",
        "rendering took more than",
    ),
    Hostile("output size", _S90K + "{% for i in range(100) %}{{ s }}{% endfor %}", "characters"),
    Hostile("urlize", "{{ ('http://a.example ' * 50000)|urlize }}", "urlize filter takes at most"),
    Hostile("title", "{{ ('a ' * 450000)|title }}", "title filter takes at most"),
    Hostile("round precision", "{{ 5|round(-999999) }}", "rounds to at most"),
    Hostile("str.encode", "{{ ('é' * 300000).encode('utf-8') }}", "from str.encode"),
    Hostile("map center", "{{ range(100000)|map('center', 999999)|list|length }}", "printed in all"),
]

"""Every table row is bound to a handler whose parameters are exactly the row's fields and
constants (checked statically, so a renamed field cannot slip through)."""
import inspect

from dbt.frontend.a64 import TABLE
from dbt.frontend.semantics import HANDLERS


def _accepts(handler, names):
    params = inspect.signature(handler).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return True, []
    required = {n for n, p in list(params.items())[1:] if p.default is p.empty}
    allowed = set(list(params)[1:])
    problems = [f"missing {sorted(required - names)}"] if required - names else []
    if names - allowed:
        problems.append(f"unexpected {sorted(names - allowed)}")
    return not problems, problems


def test_handler_signatures_match_rows():
    bad = []
    for row in TABLE:
        handler = HANDLERS.get(row.sem)
        if handler is None:
            continue
        names = {f.name for f in row.fields} | set(row.args)
        ok, problems = _accepts(handler, names)
        if not ok:
            bad.append(f"{row.name} -> {row.sem}: {'; '.join(problems)}")
    assert not bad, "\n".join(bad)

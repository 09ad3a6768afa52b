"""Differential testing against Unicorn: every implemented, comparable table row, then short
random blocks.  Seeds are fixed so a failure reproduces; the report shows the disassembly and a
side-by-side register table."""
import random

import pytest

pytest.importorskip("unicorn")

from dbt.frontend.a64 import TABLE  # noqa: E402
from dbt.frontend.semantics import HANDLERS  # noqa: E402
from dbt.testing.gen import random_word  # noqa: E402
from dbt.testing.oracle import Differ, comparable_rows, random_state  # noqa: E402

SAMPLES_PER_ROW = 4
BRANCH_SEMS = {"B", "BL", "BR", "BLR", "RET", "B_cond", "compare_branch", "test_branch"}


@pytest.fixture(scope="module")
def differ():
    return Differ()


ROWS = comparable_rows(TABLE, HANDLERS)


def test_rows_are_covered():
    """Report how much of the table the differential test reaches (all rows once FP/SIMD
    semantics land); integer, branch and load/store rows must all be in."""
    groups = {"dp_imm", "dp_reg", "branch_sys", "ldst"}
    covered = {r.name for r in ROWS}
    missing = [r.name for r in TABLE if r.group in groups and r.name not in covered
               and r.sem in HANDLERS and r.sem not in ("undefined",)]
    from dbt.testing.oracle import NOT_COMPARABLE_SEMS
    missing = [m for m in missing if TABLE[[r.name for r in TABLE].index(m)].sem not in NOT_COMPARABLE_SEMS]
    print(f"differential coverage: {len(ROWS)} of {len(TABLE)} rows")
    assert not missing


@pytest.mark.parametrize("group", sorted({r.group for r in ROWS}))
def test_every_row_single_instruction(differ, group):
    rng = random.Random(f"single-{group}")
    failures = []
    for row in (r for r in ROWS if r.group == group):
        for _ in range(SAMPLES_PER_ROW):
            word = random_word(row, rng)
            assert word is not None, f"no word decodes to {row.name}"
            m = differ.check([word], random_state(rng), [row.name])
            if m:
                failures.append(f"--- {row.name}\n{m.report()}")
                break
    assert not failures, "\n".join(failures[:3]) + f"\n({len(failures)} rows differ)"


def test_random_blocks(differ):
    rng = random.Random("blocks")
    straight = [r for r in ROWS if r.sem not in BRANCH_SEMS]
    branches = [r for r in ROWS if r.sem in BRANCH_SEMS]
    for _ in range(150):
        rows = [rng.choice(straight) for _ in range(rng.randrange(2, 8))]
        if rng.random() < 0.3:
            rows.append(rng.choice(branches))
        words = [random_word(r, rng) for r in rows]
        m = differ.check(words, random_state(rng), [r.name for r in rows])
        assert m is None, m.report()

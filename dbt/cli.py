"""`dbt-vm`: the system emulator's command line."""
import sys


def main(argv=None):
    print("dbt-vm: the virt board is not built yet (see issue 3)", file=sys.stderr)
    return 2

"""Command line placeholder; wiring lands with the whole-system issue."""

import sys


def main(argv: list[str]) -> int:
    print("signalbot: the event store is in place; the rest of the system is being built.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

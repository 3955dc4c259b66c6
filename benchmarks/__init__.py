"""Benchmarks of luactor against the runtimes a user would otherwise pick.

`main(argv)` is what `luactor bench` calls; see benchmarks/README.md.
"""


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cli import main as run
    return run(argv)

"""`python -m benchmarks`, the same as `luactor bench`."""
import sys

from benchmarks.cli import main

sys.exit(main())

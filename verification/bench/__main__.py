import sys

from verification.bench.cli import main

sys.exit(main())

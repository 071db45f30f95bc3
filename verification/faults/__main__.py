import sys

from verification.faults.cli import main

sys.exit(main())

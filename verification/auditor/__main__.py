import sys

from verification.auditor.cli import main

sys.exit(main())

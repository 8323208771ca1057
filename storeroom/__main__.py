import sys

from storeroom.cli import main

sys.exit(main())

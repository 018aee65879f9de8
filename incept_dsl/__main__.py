"""`python -m incept_dsl` is the `incept-dsl` command."""

from incept_dsl.cli import main

raise SystemExit(main())

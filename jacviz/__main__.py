"""Allow ``python -m jacviz`` as a synonym for the ``jacviz`` command."""

from jacviz.cli import main

raise SystemExit(main())

from edgemask.cli import main

raise SystemExit(main())

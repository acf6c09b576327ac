from microlens.cli import main

raise SystemExit(main())

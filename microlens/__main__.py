from microlens.cli.main import main

raise SystemExit(main())

from genolake.cli import main

raise SystemExit(main())

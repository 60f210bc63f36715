from spinecho.cli import main

raise SystemExit(main())

from makeittalk.cli.main import main

raise SystemExit(main())

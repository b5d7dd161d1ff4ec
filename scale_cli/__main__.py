from scale_cli.main import main

main()

from dvtool.cli.app import main

main()

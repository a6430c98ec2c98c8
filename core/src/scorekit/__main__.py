from scorekit.cli import main

main()

from aistpp.cli import main

main()

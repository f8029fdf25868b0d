from addictidx.cli import main

main()

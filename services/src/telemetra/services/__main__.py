from telemetra.services.server import main

main()

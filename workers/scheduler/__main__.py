from workers.scheduler.core import main

main()

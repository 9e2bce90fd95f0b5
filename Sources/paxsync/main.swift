import PaxsyncCLI

PaxsyncCommand.main()

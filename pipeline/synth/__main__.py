from pipeline.synth.generate import main

main()

"""Studies the kit ships: the demo (an MLP scaling sweep, fitted and plotted) and the zoo gallery."""
